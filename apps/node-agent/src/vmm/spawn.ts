import { spawn } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import type { Logger } from "@skiff/common";
import { agentError } from "../errors.js";
import type { VmPaths } from "../vm/layout.js";
import { readExitRecord } from "../vm/record.js";
import { VmmClient, type VmmClientEvents } from "./client.js";

const VMM_MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
/** V8 heap of the VMM's main thread (guest RAM is a SharedArrayBuffer outside it). */
const VMM_HEAP_MIB = 96;

/** The agent's environment minus its secrets: a VMM needs no token. */
function vmmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "info" };
  delete env.SKIFF_AGENT_TOKEN;
  delete env.SKIFF_OPERATOR_TOKEN;
  delete env.DATABASE_URL;
  return env;
}

/**
 * The VMM yields to the agent and to other guests' interactive work. It is a session of its own
 * (spawned detached), and where the kernel schedules by session (autogroup) CPU is shared between
 * groups first: its thread's nice alone would only order its own threads, so its group's nice is
 * set too (threads it starts later inherit the thread's).
 */
function renice(pid: number, nice: number, log: Logger, group = true): void {
  try {
    setPriority(pid, nice);
  } catch (err) {
    log.warn({ err, pid }, "cannot renice the VMM");
  }
  if (group) reniceGroup(pid, nice, log);
}

function reniceGroup(pid: number, nice: number, log: Logger): void {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
  } catch (err) {
    // No autogroup scheduling on this kernel: the thread's nice is all there is.
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      log.warn({ err, pid }, "cannot renice the VMM's group");
  }
}

export interface SpawnOptions {
  readonly restore: boolean;
  /** A live-migration target (vmm --incoming, plan in incoming.json). */
  readonly incoming?: boolean;
  readonly nice: number;
  readonly bootTimeoutMs: number;
  readonly log: Logger;
  readonly on: VmmClientEvents;
}

/**
 * Starts a VMM for the VM in `paths.dir`, detached in its own session with its output in vmm.log
 * (no pipe to the agent, which may die first), and connects to it once the guest is up.
 */
export async function spawnVmm(
  paths: VmPaths,
  opts: SpawnOptions,
): Promise<{ pid: number; client: VmmClient }> {
  const out = openSync(paths.vmmLog, "a");
  const child = spawn(
    process.execPath,
    [
      `--max-old-space-size=${VMM_HEAP_MIB}`,
      // Live migration empties the young generation just before its pause (migrate-priority.ts).
      "--expose-gc",
      VMM_MAIN,
      "--dir",
      paths.dir,
      ...(opts.restore ? ["--restore"] : []),
      ...(opts.incoming ? ["--incoming"] : []),
    ],
    {
      detached: true,
      stdio: ["ignore", out, out],
      cwd: paths.dir,
      env: vmmEnv(),
    },
  );
  closeSync(out);
  child.unref();
  // A spawn that fails (its dir removed under it, say) reports it as an event, after `pid` is
  // found missing below: unheard, that event would end the agent.
  child.on("error", (err) => opts.log.warn({ err, dir: paths.dir }, "VMM spawn failed"));
  const pid = child.pid;
  if (pid === undefined) throw agentError("VMM_SPAWN_FAILED", `cannot start a VMM in ${paths.dir}`);
  // A restore is waited for like a migration's pause (the guest is down until it runs): the
  // VMM's group keeps the agent's priority while it starts, loads and restores, and yields to other
  // work once its guest runs (it listens from then on). Its threads yield within it as always.
  renice(pid, opts.nice, opts.log, !opts.restore);
  let exited: number | null = null;
  child.once("exit", (code, signal) => {
    exited = code ?? (signal ? 128 : 1);
  });
  const deadline = Date.now() + opts.bootTimeoutMs;
  for (;;) {
    if (exited !== null) {
      const why = readExitRecord(paths.exit);
      throw agentError("VMM_BOOT_FAILED", why?.message ?? `vmm exited with ${exited} (see ${paths.vmmLog})`, {
        exitCode: exited,
      });
    }
    try {
      const client = await VmmClient.connect(paths.socket, opts.on, 1000);
      if (opts.restore) reniceGroup(pid, opts.nice, opts.log);
      return { pid, client };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      process.kill(pid, "SIGKILL");
      throw agentError("VMM_BOOT_FAILED", `vmm did not come up within ${opts.bootTimeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
