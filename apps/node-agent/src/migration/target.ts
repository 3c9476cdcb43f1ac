/**
 * The destination agent's side of a live migration: PrepareMigrationTarget makes an empty VM shell
 * (vms/<id>/ with incoming.json, no config.json: the registry does not list it) and a VMM that
 * waits for the source's stream; when that VMM commits (it writes config.json itself, so the commit
 * holds even if this agent is gone), the registry adopts the VM. AbortMigrationTarget discards a
 * shell unless it committed, and says which happened.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { errorMessage, type Logger, SkiffError } from "@skiff/common";
import { vmPaths } from "../vm/layout.js";
import type { VmRecord } from "../vm/record.js";
import type { VmRef, VmRegistry, VmSpecInput, VmView } from "../vm/registry.js";
import type { VmmClient } from "../vmm/client.js";
import { incomingPlanPath } from "../vmm/migrate-in.js";
import type { IncomingPlan } from "../vmm/migrate-protocol.js";
import { isAlive, killVmm } from "../vmm/process.js";
import { spawnVmm } from "../vmm/spawn.js";

export interface TargetDeps {
  readonly registry: VmRegistry;
  readonly dataDir: string;
  /** Address the stream server binds, and the one the source is told. */
  readonly bindHost: string;
  readonly advertiseHost: string;
  readonly vmmNice: number;
  readonly log: Logger;
}

interface Pending {
  readonly migrationId: string;
  readonly epoch: number;
  readonly client: VmmClient;
  readonly pid: number;
  adopted: Promise<VmView | undefined> | undefined;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class MigrationTargets {
  private readonly pending = new Map<string, Pending>();
  private readonly log: Logger;

  constructor(private readonly deps: TargetDeps) {
    this.log = deps.log.child({ part: "migration-target" });
  }

  async prepare(
    ref: VmRef,
    input: VmSpecInput,
    migrationId: string,
    timeoutMs: number,
  ): Promise<{ streamAddress: string; token: string }> {
    const { registry } = this.deps;
    if (migrationId === "") throw new SkiffError("INVALID_ARGUMENT", "migration_id is required");
    if (registry.has(ref.vmId)) {
      throw new SkiffError("VM_EXISTS", `vm ${ref.vmId} already runs on this node`, { vmId: ref.vmId });
    }
    const old = this.pending.get(ref.vmId);
    if (old) await this.abort(ref.vmId, old.migrationId);
    const spec = registry.migrationSpec(ref.vmId, input);
    const paths = vmPaths(this.deps.dataDir, ref.vmId);
    if (existsSync(paths.config))
      throw new SkiffError("VM_EXISTS", `vm ${ref.vmId} has a record on this node`);
    rmSync(paths.dir, { recursive: true, force: true });
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    const record: VmRecord = {
      version: 1,
      vmId: ref.vmId,
      epoch: ref.epoch,
      state: "running",
      spec,
      lastExit: "",
      exitCode: 0,
      createdAtMs: now,
      startedAtMs: now,
    };
    const token = randomBytes(24).toString("base64url");
    const plan: IncomingPlan = {
      version: 1,
      migrationId,
      token,
      host: this.deps.bindHost,
      timeoutMs: timeoutMs > 0 ? timeoutMs : DEFAULT_TIMEOUT_MS,
      record,
    };
    writeFileSync(incomingPlanPath(paths.dir), JSON.stringify(plan));
    let client: VmmClient;
    let pid: number;
    try {
      ({ client, pid } = await spawnVmm(paths, {
        restore: false,
        incoming: true,
        nice: this.deps.vmmNice,
        bootTimeoutMs: 30_000,
        log: this.log,
        on: {
          event: (status) => {
            if (status.state === "running") void this.adopt(ref.vmId);
          },
        },
      }));
    } catch (err) {
      rmSync(paths.dir, { recursive: true, force: true });
      throw err;
    }
    const p: Pending = { migrationId, epoch: ref.epoch, client, pid, adopted: undefined };
    this.pending.set(ref.vmId, p);
    void client.closed.then(() => {
      if (this.pending.get(ref.vmId) !== p) return;
      this.pending.delete(ref.vmId);
      // Gone before committing: its shell too (the VMM removes it itself when it can).
      if (!existsSync(paths.config) && !p.adopted) rmSync(paths.dir, { recursive: true, force: true });
    });
    try {
      await client.request("watch", {});
      const { port } = await client.request("incomingAttach", {});
      this.log.info({ vmId: ref.vmId, migrationId, port, epoch: ref.epoch }, "migration target prepared");
      return { streamAddress: `${this.deps.advertiseHost}:${port}`, token };
    } catch (err) {
      client.close();
      await killVmm(pid, paths.dir, 2000).catch(() => undefined);
      rmSync(paths.dir, { recursive: true, force: true });
      throw new SkiffError("MIGRATION_TARGET_FAILED", `incoming VMM: ${errorMessage(err)}`);
    }
  }

  /** The VMM committed: take the VM into the registry, then let the VMM answer the source. */
  private adopt(vmId: string): Promise<VmView | undefined> {
    const p = this.pending.get(vmId);
    if (!p) return Promise.resolve(undefined);
    p.adopted ??= (async () => {
      let view: VmView | undefined;
      try {
        view = await this.deps.registry.adopt(vmId);
        this.log.info({ vmId, migrationId: p.migrationId, epoch: p.epoch }, "migration target committed");
      } catch (err) {
        this.log.error({ vmId, err: errorMessage(err) }, "cannot adopt a committed VM");
      }
      await p.client.request("incomingAdopted", {}, 3000).catch(() => undefined);
      if (this.pending.get(vmId) === p) this.pending.delete(vmId);
      p.client.close();
      return view;
    })();
    return p.adopted;
  }

  /** Discards the shell unless it committed. */
  async abort(vmId: string, migrationId: string): Promise<{ committed: boolean; vm?: VmView }> {
    const { registry } = this.deps;
    const p = this.pending.get(vmId);
    if (!p || (migrationId !== "" && p.migrationId !== migrationId)) {
      return registry.has(vmId) ? { committed: true, vm: registry.get(vmId) } : { committed: false };
    }
    if (p.adopted) {
      const vm = await p.adopted;
      return vm ? { committed: true, vm } : { committed: true };
    }
    const paths = vmPaths(this.deps.dataDir, vmId);
    let answer: { committed: boolean } | undefined;
    try {
      answer = await p.client.request("incomingAbort", { migrationId: p.migrationId }, 5000);
    } catch {
      answer = undefined;
    }
    if (answer?.committed) {
      const vm = await this.adopt(vmId);
      return vm ? { committed: true, vm } : { committed: true };
    }
    if (answer === undefined && isAlive(p.pid)) {
      // It does not answer: stop it for good, then the record on disk says whether it committed.
      await killVmm(p.pid, paths.dir, 1000).catch(() => undefined);
    }
    await Promise.race([p.client.closed, new Promise((r) => setTimeout(r, 3000))]);
    if (existsSync(paths.config)) {
      const vm = await this.adopt(vmId).catch(() => undefined);
      return vm ? { committed: true, vm } : { committed: true };
    }
    this.pending.delete(vmId);
    rmSync(paths.dir, { recursive: true, force: true });
    this.log.info({ vmId, migrationId: p.migrationId }, "migration target discarded");
    return { committed: false };
  }

  /** Agent shutdown: incoming shells discard themselves once this agent's connections close. */
  close(): void {
    for (const p of this.pending.values()) p.client.close();
  }
}
