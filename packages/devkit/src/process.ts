import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { guardProcessGroup } from "./watchdog.js";

/** A child process we started and must stop; output is kept for error messages. */
export interface Supervised {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  /** `signal` (default: the process's stop signal) to the process, SIGKILL to its group after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

export interface StartOptions extends Omit<SpawnOptions, "detached" | "stdio"> {
  /** Also append everything the process prints to this file. */
  readonly logFile?: string;
  /** What `stop()` and the watchdog send first (default SIGTERM). */
  readonly stopSignal?: NodeJS.Signals;
}

const SIGKILL_GRACE_MS = 10_000;

/**
 * Starts `cmd` in its own process group, so a Ctrl-C at the terminal reaches only our own process
 * (which then stops its children in its own order), and ties that group to this process with the
 * watchdog: if this process dies without stopping it, even by SIGKILL, the group is stopped too.
 */
export function startProcess(name: string, cmd: string, args: string[], opts: StartOptions = {}): Supervised {
  const { logFile, stopSignal = "SIGTERM", ...spawnOpts } = opts;
  const child = spawn(cmd, args, { ...spawnOpts, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const release = child.pid
    ? guardProcessGroup(child.pid, { signal: stopSignal, graceMs: SIGKILL_GRACE_MS })
    : () => undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  const log = logFile ? createWriteStream(logFile, { flags: "a" }) : undefined;
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-16_384);
    log?.write(b);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("error", (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
  const gone = () => child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  // Exited by itself: whatever it left in its group goes too, and the watchdog lets go.
  void exited.then(() => {
    killGroup("SIGKILL");
    release();
    log?.end();
  });
  return {
    name,
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = stopSignal, timeoutMs = SIGKILL_GRACE_MS) {
      if (!gone()) {
        child.kill(signal);
        // Cleared once it exits: a pending timer would keep a stopping launcher alive for nothing.
        const timer = setTimeout(() => killGroup("SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      await exited;
    },
  };
}

/** Polls `check` until it resolves true, or fails with the process output after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  opts: { timeoutMs?: number; intervalMs?: number; proc?: Supervised } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (opts.proc && opts.proc.child.exitCode !== null) {
      throw new Error(
        `${what}: ${opts.proc.name} exited with ${opts.proc.child.exitCode}\n${opts.proc.output()}`,
      );
    }
    try {
      if (await check()) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${opts.proc ? `\n${opts.proc.output()}` : ""}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

/**
 * True while `pid` runs. A zombie counts as gone: it has exited, and where nothing reaps orphans
 * (some containers' init) a killed process's children stay zombies for good.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name field may hold spaces and parentheses; the state follows its last ")".
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The argument vector of `pid` from /proc (empty once it is gone). */
export function processArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter((a) => a !== "");
  } catch {
    return [];
  }
}
