import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * What a running gateway holds outside this process: its socat relays' pids. Written at each
 * change, so a gateway started after a crash can stop the relays the dead one left behind.
 */
export function recordPids(path: string, pids: number[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ pids }));
}

export function forgetPids(path: string): void {
  rmSync(path, { force: true });
}

/** Stops the relays a crashed gateway left: only processes that are still socat, by pid. */
export function stopLeftoverRelays(path: string): number {
  let pids: unknown;
  try {
    pids = (JSON.parse(readFileSync(path, "utf8")) as { pids?: unknown }).pids;
  } catch {
    return 0;
  }
  let stopped = 0;
  for (const pid of Array.isArray(pids) ? pids : []) {
    if (typeof pid !== "number" || !isSocat(pid)) continue;
    try {
      process.kill(pid, "SIGTERM");
      stopped++;
    } catch {
      // gone already
    }
  }
  forgetPids(path);
  return stopped;
}

function isSocat(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]?.endsWith("socat") ?? false;
  } catch {
    return false;
  }
}
