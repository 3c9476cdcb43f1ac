/**
 * The shell of a VM arriving by live migration: vms/<id>/ with incoming.json and no config.json
 * (so the registry does not list it), and a VMM waiting for the source's stream. That VMM writes
 * config.json itself when it commits, so the commit holds even if this agent is gone; the
 * registry adopts the VM then.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Logger } from "@skiff/common";
import { agentError } from "../errors.js";
import type { VmPaths } from "../vm/layout.js";
import type { VmRecord } from "../vm/record.js";
import type { VmmClient } from "../vmm/client.js";
import { incomingPlanPath } from "../vmm/incoming-plan.js";
import type { IncomingPlan } from "../vmm/migrate-protocol.js";
import { isAlive, killVmm } from "../vmm/process.js";
import { spawnVmm } from "../vmm/spawn.js";

/** What the migration target decides: everything of the plan but the VM's record. */
export type IncomingTerms = Omit<IncomingPlan, "version" | "record">;

export interface IncomingVm {
  readonly client: VmmClient;
  readonly pid: number;
  /** The VMM committed the VM here (its record is on disk). */
  committed(): boolean;
  alive(): boolean;
  /** Ends the VMM (bounded wait); the shell stays for the caller to judge. */
  kill(waitMs: number): Promise<void>;
  /** Removes the shell. */
  discard(): void;
}

export interface IncomingOptions {
  readonly nice: number;
  readonly log: Logger;
  /** The VMM reported its guest running: it committed. */
  readonly onRunning: () => void;
  /** Runs once the VM's dir exists, before its VMM is spawned (e.g. listen for its NIC). */
  readonly beforeSpawn?: () => Promise<void>;
}

export async function spawnIncoming(
  paths: VmPaths,
  record: VmRecord,
  terms: IncomingTerms,
  opts: IncomingOptions,
): Promise<IncomingVm> {
  if (existsSync(paths.config)) throw agentError("VM_EXISTS", `vm ${record.vmId} has a record on this node`);
  rmSync(paths.dir, { recursive: true, force: true });
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const plan: IncomingPlan = { version: 1, ...terms, record };
  writeFileSync(incomingPlanPath(paths.dir), JSON.stringify(plan));
  const discard = () => rmSync(paths.dir, { recursive: true, force: true });
  try {
    await opts.beforeSpawn?.();
    const { client, pid } = await spawnVmm(paths, {
      restore: false,
      incoming: true,
      nice: opts.nice,
      bootTimeoutMs: 30_000,
      log: opts.log,
      on: {
        event: (status) => {
          if (status.state === "running") opts.onRunning();
        },
      },
    });
    return {
      client,
      pid,
      committed: () => existsSync(paths.config),
      alive: () => isAlive(pid),
      kill: (waitMs) => killVmm(pid, paths.dir, waitMs),
      discard,
    };
  } catch (err) {
    discard();
    throw err;
  }
}
