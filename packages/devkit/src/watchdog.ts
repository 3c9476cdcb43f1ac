import { type ChildProcess, spawn } from "node:child_process";

/**
 * The watchdog's program (run with `node -e`, so it works the same from src under vitest and from
 * dist). It reads "+ <pgid> <signal> <graceMs>" and "- <pgid>" lines on stdin. Its stdin is a
 * pipe whose write end only the guarded process holds, so end-of-file means that process is
 * gone, however it ended: the kernel closes a dead process's descriptors at once, even a SIGKILLed
 * one that is still a zombie (a pid poll would take a zombie for alive). Then every group still
 * registered gets its signal, and SIGKILL once its grace period is over.
 */
const PROGRAM = `
const groups = new Map();
let buf = "";
const alive = (g) => {
  try { process.kill(-g, 0); return true; } catch (e) { return e.code === "EPERM"; }
};
const kill = (g, s) => { try { process.kill(-g, s); } catch {} };
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => {
  buf += d;
  for (let i = buf.indexOf("\\n"); i >= 0; i = buf.indexOf("\\n")) {
    const [op, g, sig, grace] = buf.slice(0, i).split(" ");
    buf = buf.slice(i + 1);
    if (op === "+") groups.set(Number(g), { sig, until: Number(grace) });
    else groups.delete(Number(g));
  }
});
let done = false;
const finish = async () => {
  if (done) return;
  done = true;
  const start = Date.now();
  for (const [g, o] of groups) kill(g, o.sig);
  for (;;) {
    const left = [...groups].filter(([g]) => alive(g));
    if (left.length === 0) break;
    for (const [g, o] of left) if (Date.now() - start >= o.until) { kill(g, "SIGKILL"); groups.delete(g); }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.exit(0);
};
process.stdin.on("end", finish);
process.stdin.on("close", finish);
process.stdin.on("error", finish);
`;

let dog: ChildProcess | undefined;

/** The one watchdog of this process, started on first use. */
function watchdog(): ChildProcess {
  if (dog && dog.exitCode === null && dog.signalCode === null) return dog;
  // Detached: its own session, so neither a Ctrl-C at the terminal nor our own death reaches it.
  // No inherited environment: NODE_OPTIONS from a test runner has nothing to do here.
  const d = spawn(process.execPath, ["-e", PROGRAM], {
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
    env: {},
  });
  d.unref();
  // The pipe must not keep this process alive, nor crash it if the watchdog is gone (EPIPE).
  (d.stdin as unknown as { unref?(): void } | null)?.unref?.();
  d.stdin?.on("error", () => undefined);
  dog = d;
  return d;
}

export interface GuardOptions {
  /** What the group gets first (SIGTERM by default; PostgreSQL wants SIGINT, its fast shutdown). */
  readonly signal?: NodeJS.Signals;
  /** How long after that signal the group is SIGKILLed. */
  readonly graceMs?: number;
}

/**
 * Ties the process group `pgid` (a child spawned `detached`: its pid) to this process: if this
 * process ends before calling the returned release function — exit, crash or SIGKILL — a
 * watchdog process stops the group. Release once the group has been stopped the regular way.
 */
export function guardProcessGroup(pgid: number, opts: GuardOptions = {}): () => void {
  const d = watchdog();
  d.stdin?.write(`+ ${pgid} ${opts.signal ?? "SIGTERM"} ${opts.graceMs ?? 5000}\n`);
  return () => {
    if (d.exitCode === null && d.signalCode === null) d.stdin?.write(`- ${pgid}\n`);
  };
}

/** The watchdog's pid (tests check that it, too, goes away). */
export function watchdogPid(): number | undefined {
  return dog?.pid;
}
