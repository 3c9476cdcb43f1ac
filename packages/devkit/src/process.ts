import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

/** A child process we started and must stop; output is kept for error messages. */
export interface Supervised {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

export function startProcess(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Supervised {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  let out = "";
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-16_384);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("error", (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
  return {
    name,
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill(signal);
      const timer = sleep(timeoutMs).then(() => "timeout" as const);
      if ((await Promise.race([exited, timer])) === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
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
