import { readFileSync } from "node:fs";

/** True if `pid` is alive (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * True if `pid` is a VMM serving `vmDir`: checked on /proc before a kill, because a pid read from a
 * file after an agent restart may since belong to an unrelated process.
 */
export function isVmmFor(pid: number, vmDir: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.some((a) => a.endsWith("/vmm/main.js")) && argv.includes(vmDir);
  } catch {
    return false;
  }
}

/** SIGKILLs our VMM `pid` and waits (bounded) until it is gone. */
export async function killVmm(pid: number, vmDir: string, waitMs = 5000): Promise<void> {
  if (!isAlive(pid) || !isVmmFor(pid, vmDir)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  const deadline = Date.now() + waitMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Resident memory of `pid` in bytes (0 if unknown). */
export function rssOf(pid: number): number {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, "utf8").split(" ");
    return Number(statm[1]) * 4096;
  } catch {
    return 0;
  }
}
