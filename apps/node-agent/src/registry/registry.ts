/**
 * The one owner of this node's VMs: their records, their VMM connections, and every command
 * applied through the lifecycle table under epoch fencing; commands on one VM run one at a time.
 * Its parts: spec.ts (checks and resolves specs), disk-lease.ts (disks and their ownership),
 * reattach.ts (after an agent restart), exits.ts (how an ended VMM settles), incoming.ts (VMs
 * arriving by live migration).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { errorMessage, type Logger, SkiffError } from "@skiff/common";
import { agentError } from "../errors.js";
import { refuseIfOwnedAbove } from "../storage/lease.js";
import { deleteDiskDir, type SharedStorage } from "../storage/shared.js";
import { type VmPaths, validateVmId, vmPaths, vmsDir } from "../vm/layout.js";
import { hasVmm, transition, VM_STATES, type VmEvent, type VmStateName } from "../vm/lifecycle.js";
import { type ExitRecord, readExitRecord, readRecord, type VmRecord, writeRecord } from "../vm/record.js";
import { VmmClient } from "../vmm/client.js";
import { killVmm } from "../vmm/process.js";
import { spawnVmm } from "../vmm/spawn.js";
import { DiskLeases } from "./disk-lease.js";
import { exitEvent } from "./exits.js";
import { type IncomingTerms, type IncomingVm, spawnIncoming } from "./incoming.js";
import { hasNic, NicLinks, type NicPorts } from "./nic-links.js";
import { reattach } from "./reattach.js";
import { SpecResolver, type VmSpecInput } from "./spec.js";
import { recordedPid, VmEntry, type VmRef, type VmView } from "./vm-entry.js";

export type { NicPorts, VmRef, VmSpecInput, VmView };

export interface RegistryOptions {
  readonly dataDir: string;
  /** Shared storage for VM disks; undefined: disks live in the data dir. */
  readonly storage: SharedStorage | undefined;
  /** This node's name, written into the disk leases it claims (for people reading them). */
  readonly nodeName: string;
  readonly repoRoot: string;
  readonly log: Logger;
  readonly vmmNice: number;
  readonly vmmOverheadMib: number;
  readonly stopTimeoutMs: number;
  readonly bootTimeoutMs?: number;
}

export class VmRegistry {
  private readonly vms = new Map<string, VmEntry>();
  private closing = false;
  private poller: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  private readonly specs: SpecResolver;
  private readonly disks: DiskLeases;
  private readonly nics: NicLinks;

  constructor(private readonly opts: RegistryOptions) {
    this.log = opts.log.child({ part: "registry" });
    this.specs = new SpecResolver(opts);
    this.disks = new DiskLeases({ ...opts, specs: this.specs, log: this.log });
    this.nics = new NicLinks(this.log);
  }

  /** The node switch, before load(): VMs with a NIC need it. */
  useNetwork(ports: NicPorts): void {
    this.nics.use(ports);
  }

  /** Loads every VM record in the data dir and reattaches to the VMMs still running. */
  async load(): Promise<void> {
    const root = vmsDir(this.opts.dataDir);
    mkdirSync(root, { recursive: true });
    const reattaching: Promise<void>[] = [];
    for (const id of readdirSync(root)) {
      let paths: VmPaths;
      try {
        paths = vmPaths(this.opts.dataDir, id);
      } catch {
        continue;
      }
      if (!existsSync(paths.config)) {
        // A CreateVm that died before its record was written, or a migration's incoming shell
        // whose agent was killed: nothing was promised to anyone. Its VMM may still run, and one
        // that ends later removes its dir, by then maybe the next prepare's for the same VM (a
        // chaos run lost a running VM's control socket so): it is ended first.
        this.log.warn({ vmId: id }, "removing a VM dir without a record");
        await killVmm(recordedPid(paths), paths.dir);
        rmSync(paths.dir, { recursive: true, force: true });
        continue;
      }
      let record: VmRecord;
      try {
        record = readRecord(paths.config);
      } catch (err) {
        this.log.error({ vmId: id, err: errorMessage(err) }, "skipping a VM with a corrupt record");
        continue;
      }
      const entry = new VmEntry(record, paths);
      this.vms.set(id, entry);
      // A running VMM reconnects its NIC on its own once the switch listens again.
      reattaching.push(
        (hasVmm(record.state) ? this.nics.open(record, paths.nic) : Promise.resolve())
          .catch((err: unknown) =>
            this.log.error({ vmId: id, err: errorMessage(err) }, "cannot reopen the VM's NIC link"),
          )
          .then(() => this.reattach(entry)),
      );
    }
    await Promise.all(reattaching);
    this.poller = setInterval(() => void this.refresh(), 2000);
    this.poller.unref();
  }

  private reattach(entry: VmEntry): Promise<void> {
    return reattach(entry, {
      log: this.log,
      supervise: (e, client) => this.supervise(e, client),
      persist: (e) => this.persist(e),
      settleExit: (e, exit, unknown) => this.settleExit(e, exit, unknown),
    });
  }

  /** Maps how a VMM ended to the VM's next state (and persists it). */
  private settleExit(entry: VmEntry, exit: ExitRecord | undefined, unknown: string): void {
    entry.dropVmm();
    if (!hasVmm(entry.record.state)) return;
    const event = exitEvent(entry, exit, unknown);
    if (event === "migrated") {
      // Live-migrated away (the destination runs it at a higher epoch): nothing of it stays here.
      this.forget(entry, exit?.message ?? "", exit);
      return;
    }
    entry.record.state = transition(entry.record.vmId, entry.record.state, event);
    this.persist(entry);
  }

  /** Watches a VMM connection: when it closes without a command expecting it, settle the VM. */
  private supervise(entry: VmEntry, client: VmmClient): void {
    entry.vmm = client;
    entry.pid = client.hello.pid;
    entry.status = client.hello;
    void client.closed.then((exit) => {
      if (this.closing) return;
      void entry.serial(async () => {
        if (entry.vmm !== client) return; // a command already handled this exit
        const fromFile = exit ?? readExitRecord(entry.paths.exit);
        this.settleExit(entry, fromFile, "vmm-died");
        this.log.warn(
          { vmId: entry.record.vmId, state: entry.record.state, lastExit: entry.record.lastExit },
          "VMM exited",
        );
      });
    });
  }

  private persist(entry: VmEntry): void {
    writeRecord(entry.paths.config, entry.record);
  }

  private entry(vmId: string): VmEntry {
    const e = this.vms.get(vmId);
    if (!e) throw agentError("VM_NOT_FOUND", `no vm ${vmId} on this node`, { vmId });
    return e;
  }

  /** Fencing: a lower epoch is refused; a higher one becomes the VM's epoch. */
  private fence(entry: VmEntry, epoch: number): void {
    const held = entry.record.epoch;
    if (epoch < held) {
      throw agentError(
        "STALE_EPOCH",
        `vm ${entry.record.vmId} is at epoch ${held}, command carries ${epoch}`,
        {
          vmId: entry.record.vmId,
          held,
          given: epoch,
        },
      );
    }
    if (epoch > held) {
      this.disks.checkRaise(entry, epoch);
      this.log.info({ vmId: entry.record.vmId, from: held, to: epoch }, "epoch raised");
      entry.record.epoch = epoch;
      this.persist(entry);
      this.disks.raised(entry);
    }
  }

  private guard(): void {
    if (this.closing) throw agentError("AGENT_SHUTTING_DOWN", "the agent is shutting down");
  }

  /** Runs a fenced command on one VM, serialized with its other commands. */
  private command<T>(ref: VmRef, fn: (entry: VmEntry) => Promise<T>): Promise<T> {
    this.guard();
    const entry = this.entry(ref.vmId);
    return entry.serial(async () => {
      this.guard();
      this.fence(entry, ref.epoch);
      return fn(entry);
    });
  }

  async create(ref: VmRef, input: VmSpecInput, start: boolean): Promise<VmView> {
    this.guard();
    validateVmId(ref.vmId);
    const existing = this.vms.get(ref.vmId);
    if (existing) {
      return existing.serial(async () => {
        if (ref.epoch < existing.record.epoch) this.fence(existing, ref.epoch);
        if (ref.epoch > existing.record.epoch) {
          throw agentError(
            "VM_EXISTS",
            `vm ${ref.vmId} exists at epoch ${existing.record.epoch}: destroy it first`,
          );
        }
        return this.view(existing); // the same CreateVm again: idempotent
      });
    }
    this.specs.validate(input);
    const paths = vmPaths(this.opts.dataDir, ref.vmId);
    const now = Date.now();
    const spec = this.specs.record(ref.vmId, input, paths);
    const entry = new VmEntry(
      {
        version: 1,
        vmId: ref.vmId,
        epoch: ref.epoch,
        state: "created",
        spec,
        lastExit: "",
        exitCode: 0,
        createdAtMs: now,
        startedAtMs: 0,
      },
      paths,
    );
    // Reserve the id before any await, so a concurrent CreateVm of the same id queues behind this.
    this.vms.set(ref.vmId, entry);
    return entry.serial(async () => {
      try {
        rmSync(paths.dir, { recursive: true, force: true });
        mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
        if (input.diskImagePath !== "") this.disks.make(entry, input);
        this.persist(entry);
      } catch (err) {
        this.vms.delete(ref.vmId);
        // Only this node's part: a disk on shared storage is the VPS's, whoever made it.
        rmSync(paths.dir, { recursive: true, force: true });
        if (err instanceof SkiffError && (err.code === "STALE_EPOCH" || err.code === "DISK_NOT_FOUND"))
          throw err;
        throw agentError("VM_CREATE_FAILED", `create ${ref.vmId}: ${errorMessage(err)}`);
      }
      this.log.info({ vmId: ref.vmId, epoch: ref.epoch, memoryBytes: spec.memoryBytes }, "vm created");
      if (start) await this.boot(entry, false);
      return this.view(entry);
    });
  }

  private async boot(entry: VmEntry, restore: boolean): Promise<void> {
    const r = entry.record;
    const next = transition(r.vmId, r.state, restore ? "resumeSuspended" : "start");
    await this.disks.own(entry);
    rmSync(entry.paths.exit, { force: true });
    // Never two VMMs on one disk (a leftover from an agent that died mid-start).
    await killVmm(recordedPid(entry.paths), entry.paths.dir);
    await this.nics.open(r, entry.paths.nic);
    const { client } = await spawnVmm(entry.paths, {
      restore,
      nice: this.opts.vmmNice,
      bootTimeoutMs: this.opts.bootTimeoutMs ?? 60_000,
      log: this.log,
      on: {},
    });
    this.supervise(entry, client);
    entry.status = await client.request("watch", {});
    r.state = next;
    r.startedAtMs = Date.now();
    r.lastExit = "";
    r.exitCode = 0;
    this.persist(entry);
    if (restore) rmSync(entry.paths.snapshot, { force: true });
    this.log.info({ vmId: r.vmId, pid: entry.pid, restore }, "vm running");
  }

  start(ref: VmRef): Promise<VmView> {
    return this.command(ref, async (e) => {
      await this.boot(e, false);
      return this.view(e);
    });
  }

  resumeSuspended(ref: VmRef): Promise<VmView> {
    return this.command(ref, async (e) => {
      if (e.record.state === "suspended" && !existsSync(e.paths.snapshot)) {
        throw agentError("SNAPSHOT_MISSING", `vm ${ref.vmId}: the suspend snapshot is gone`);
      }
      await this.boot(e, true);
      return this.view(e);
    });
  }

  /** The VMM of a VM that must have one (running or paused). */
  private vmmOf(e: VmEntry, event: VmEvent): VmmClient {
    transition(e.record.vmId, e.record.state, event);
    if (!e.vmm?.connected) {
      throw agentError("VMM_GONE", `vm ${e.record.vmId}: its VMM is not connected`);
    }
    return e.vmm;
  }

  /** After a command that ends the VMM: wait for it to go, kill it if it lingers. */
  private async awaitExit(e: VmEntry, client: VmmClient): Promise<ExitRecord | undefined> {
    const exit = await Promise.race([
      client.closed,
      new Promise<"late">((r) => setTimeout(() => r("late"), 5000)),
    ]);
    const pid = client.hello.pid;
    if (exit === "late") client.close();
    await killVmm(pid, e.paths.dir, 5000);
    return exit === "late" ? readExitRecord(e.paths.exit) : (exit ?? readExitRecord(e.paths.exit));
  }

  stop(ref: VmRef, force: boolean, timeoutMs: number): Promise<{ view: VmView; graceful: boolean }> {
    return this.command(ref, async (e) => {
      const client = this.vmmOf(e, "stop");
      const wait = timeoutMs > 0 ? timeoutMs : this.opts.stopTimeoutMs;
      let graceful = false;
      try {
        ({ graceful } = await client.request("stop", { force, timeoutMs: wait }, wait + 10_000));
      } catch (err) {
        this.log.warn({ vmId: ref.vmId, err: errorMessage(err) }, "VMM did not stop; killing it");
      }
      await this.awaitExit(e, client);
      e.dropVmm();
      e.record.state = transition(ref.vmId, e.record.state, "stop");
      e.record.lastExit = graceful ? "stop: graceful" : "stop: forced";
      e.record.exitCode = 0;
      this.persist(e);
      return { view: this.view(e), graceful };
    });
  }

  /** A command the running VMM carries out as is, with no argument and nothing else to do. */
  private forwardToVmm(ref: VmRef, event: "pause" | "resume" | "reboot"): Promise<VmView> {
    return this.command(ref, async (e) => {
      const client = this.vmmOf(e, event);
      e.status = await client.request(event, {});
      e.record.state = transition(ref.vmId, e.record.state, event);
      this.persist(e);
      return this.view(e);
    });
  }

  pause(ref: VmRef): Promise<VmView> {
    return this.forwardToVmm(ref, "pause");
  }

  resume(ref: VmRef): Promise<VmView> {
    return this.forwardToVmm(ref, "resume");
  }

  reboot(ref: VmRef): Promise<VmView> {
    return this.forwardToVmm(ref, "reboot");
  }

  suspend(ref: VmRef): Promise<{ view: VmView; snapshotBytes: number }> {
    return this.command(ref, async (e) => {
      const client = this.vmmOf(e, "suspend");
      const { snapshotBytes } = await client.request("suspend", {}, 120_000);
      await this.awaitExit(e, client);
      e.dropVmm();
      e.record.state = transition(ref.vmId, e.record.state, "suspend");
      e.record.lastExit = `suspend: ${snapshotBytes} bytes`;
      this.persist(e);
      return { view: this.view(e), snapshotBytes };
    });
  }

  /**
   * Kills the VMM if any and removes what this node holds of the VM. A VM this node does not hold
   * is fine. A disk on shared storage stays: it is the VPS's, not this VM's (a stale VM destroyed
   * after its VPS was restarted elsewhere shares it with the live one). Only `deleteDisk` (the VPS
   * itself is deleted) removes it, and only if no epoch above the command's owns it.
   */
  async destroy(ref: VmRef, deleteDisk = false): Promise<void> {
    this.guard();
    validateVmId(ref.vmId);
    let leaseDir =
      this.vms.get(ref.vmId)?.record.spec.diskStorage?.leaseDir ?? this.opts.storage?.diskDir(ref.vmId);
    // A delete the disk's newer owner would refuse changes nothing at all, not even this node.
    if (deleteDisk && leaseDir !== undefined) refuseIfOwnedAbove(leaseDir, ref.vmId, ref.epoch);
    if (this.vms.has(ref.vmId)) {
      await this.command(ref, async (e) => {
        const client = e.vmm;
        e.vmm = undefined;
        if (client) {
          client.close();
          await killVmm(client.hello.pid, e.paths.dir);
        }
        rmSync(e.paths.dir, { recursive: true, force: true });
        this.vms.delete(ref.vmId);
        this.nics.close(ref.vmId);
        // Its record says where its disk is (storage settings may have changed since).
        leaseDir = e.record.spec.diskStorage?.leaseDir ?? leaseDir;
        this.log.info({ vmId: ref.vmId, epoch: ref.epoch }, "vm destroyed");
      });
    }
    if (deleteDisk && leaseDir !== undefined && deleteDiskDir(leaseDir, ref.vmId, ref.epoch)) {
      this.log.info({ vmId: ref.vmId, epoch: ref.epoch }, "the VPS's disk on shared storage deleted");
    }
  }

  get(vmId: string): VmView {
    return this.view(this.entry(vmId));
  }

  list(): VmView[] {
    return [...this.vms.values()].map((e) => this.view(e));
  }

  private view(e: VmEntry): VmView {
    return e.view();
  }

  /** Opens a console connection to a running VM's VMM (one per viewer). */
  async openConsole(
    ref: VmRef,
    opts: { replay: boolean; readOnly: boolean },
    output: (bytes: Uint8Array, replay: boolean) => void,
  ): Promise<VmmClient> {
    const e = await this.command(ref, async (entry) => entry);
    if (!hasVmm(e.record.state)) {
      throw agentError("VM_NOT_RUNNING", `vm ${ref.vmId} is ${e.record.state}: no console`);
    }
    const client = await VmmClient.connect(e.paths.socket, { output });
    await client.request("attach", opts);
    return client;
  }

  /** The VM's state once no VMM connection awaits settlement (bounded); undefined if it is gone. */
  async waitSettled(vmId: string, timeoutMs: number): Promise<VmStateName | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.vms.get(vmId);
      if (!e) return undefined;
      await e.idle();
      if (!hasVmm(e.record.state) || e.vmm?.connected === true || Date.now() > deadline)
        return e.record.state;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Refreshes usage figures of every VMM (for stats and heartbeats). */
  private async refresh(): Promise<void> {
    await Promise.all(
      [...this.vms.values()].map(async (e) => {
        if (!e.vmm?.connected) return;
        try {
          e.status = await e.vmm.request("status", {}, 2000);
        } catch {
          // a closing VMM is settled by its supervisor
        }
      }),
    );
  }

  stateCounts(): Record<VmStateName, number> {
    const out = Object.fromEntries(VM_STATES.map((s) => [s, 0])) as Record<VmStateName, number>;
    for (const e of this.vms.values()) out[e.record.state]++;
    return out;
  }

  // ---- live migration (apps/node-agent/src/migration/*) ----

  /**
   * Removes a VM that left this node by live migration: its record, its dir, its entry. A disk on
   * shared storage the destination opened in place is the VPS's still and stays; one the
   * destination copied is left-over and goes (unless someone newer owns it). Not knowing which
   * (no exit record): it stays — a leak, never a loss.
   */
  private forget(entry: VmEntry, why: string, exit?: ExitRecord): void {
    entry.vmm = undefined;
    entry.pid = 0;
    // The guest runs on the destination now: this node's link for it goes.
    this.nics.close(entry.record.vmId);
    rmSync(entry.paths.dir, { recursive: true, force: true });
    if (this.vms.get(entry.record.vmId) === entry) this.vms.delete(entry.record.vmId);
    const ds = entry.record.spec.diskStorage;
    if (ds && exit?.diskInPlace === false) {
      try {
        deleteDiskDir(ds.leaseDir, entry.record.vmId, entry.record.epoch);
      } catch (err) {
        this.log.warn({ vmId: entry.record.vmId, err: errorMessage(err) }, "left-over shared disk kept");
      }
    }
    this.log.info({ vmId: entry.record.vmId, why, diskInPlace: exit?.diskInPlace }, "vm migrated away");
  }

  /**
   * Runs `fn` as a fenced command on a VM whose VMM runs (a live migration out). `drop` removes the
   * VM once its VMM exited after a committed migration.
   */
  withRunningVm<T>(
    ref: VmRef,
    fn: (vm: {
      record: Readonly<VmRecord>;
      paths: VmPaths;
      pid: number;
      drop(): Promise<void>;
    }) => Promise<T>,
  ): Promise<T> {
    return this.command(ref, async (e) => {
      if (!hasVmm(e.record.state)) {
        throw agentError("INVALID_TRANSITION", `vm ${ref.vmId} is ${e.record.state}: cannot migrate`, {
          vmId: ref.vmId,
        });
      }
      if (!e.vmm?.connected) throw agentError("VMM_GONE", `vm ${ref.vmId}: its VMM is not connected`);
      const client = e.vmm;
      return fn({
        record: e.record,
        paths: e.paths,
        pid: e.pid,
        drop: async () => {
          // The VMM exits by itself after the commit; the supervisor must not settle it as a crash.
          if (e.vmm === client) e.vmm = undefined;
          const exit = await this.awaitExit(e, client);
          this.forget(e, "migration committed", exit);
        },
      });
    });
  }

  /**
   * Runs `fn` as a fenced command on a VM no VMM runs (a cold move out, a resize): no start can
   * slip in meanwhile. A record `fn` passes to `update` replaces the VM's and is persisted.
   */
  withIdleVm<T>(
    ref: VmRef,
    fn: (vm: { record: Readonly<VmRecord>; paths: VmPaths; update(r: VmRecord): void }) => Promise<T>,
  ): Promise<T> {
    return this.command(ref, async (e) => {
      if (hasVmm(e.record.state)) {
        throw agentError(
          "INVALID_TRANSITION",
          `vm ${ref.vmId} is ${e.record.state}: stop or suspend it first`,
          {
            vmId: ref.vmId,
            state: e.record.state,
          },
        );
      }
      const update = (r: VmRecord) => {
        e.record = r;
        this.persist(e);
      };
      return fn({ record: e.record, paths: e.paths, update });
    });
  }

  /** Takes in a VM a live migration committed here (its VMM runs, its record is on disk). */
  async adopt(vmId: string): Promise<VmView> {
    this.guard();
    if (this.vms.has(vmId)) throw agentError("VM_EXISTS", `vm ${vmId} is already held here`, { vmId });
    const paths = vmPaths(this.opts.dataDir, vmId);
    const entry = new VmEntry(readRecord(paths.config), paths);
    this.vms.set(vmId, entry);
    await entry.serial(() => this.reattach(entry));
    return this.view(entry);
  }

  /**
   * The shell of a VM arriving by live migration, with its spec checked as CreateVm checks it and
   * its VMM waiting for the stream (incoming.ts). `onCommitted` runs when that VMM committed: the
   * caller then adopts the VM.
   */
  async prepareIncoming(
    ref: VmRef,
    input: VmSpecInput,
    terms: IncomingTerms,
    onCommitted: () => void,
  ): Promise<IncomingVm> {
    validateVmId(ref.vmId);
    if (this.vms.has(ref.vmId)) {
      throw agentError("VM_EXISTS", `vm ${ref.vmId} already runs on this node`, { vmId: ref.vmId });
    }
    this.specs.validate(input);
    const paths = vmPaths(this.opts.dataDir, ref.vmId);
    const now = Date.now();
    const record: VmRecord = {
      version: 1,
      vmId: ref.vmId,
      epoch: ref.epoch,
      state: "running",
      spec: this.specs.record(ref.vmId, input, paths),
      lastExit: "",
      exitCode: 0,
      createdAtMs: now,
      startedAtMs: now,
    };
    // The destination's link is ready before its VMM: that VMM connects while the map still
    // places the port on the source, so the switch neither delivers to it nor lets it send.
    const vm = await spawnIncoming(paths, record, terms, {
      nice: this.opts.vmmNice,
      log: this.log,
      onRunning: onCommitted,
      beforeSpawn: () => this.nics.open(record, paths.nic),
    }).catch((err: unknown) => {
      if (hasNic(record)) this.nics.close(ref.vmId);
      throw err;
    });
    return {
      ...vm,
      discard: () => {
        vm.discard();
        if (hasNic(record)) this.nics.close(ref.vmId);
      },
    };
  }

  /** True when this node holds the VM. */
  has(vmId: string): boolean {
    return this.vms.has(vmId);
  }

  /** Shutdown: refuse new commands, let running ones finish (bounded); VMs run on, to reattach. */
  async close(waitMs = 10_000): Promise<void> {
    this.closing = true;
    clearInterval(this.poller);
    const idle = Promise.all([...this.vms.values()].map((e) => e.idle()));
    await Promise.race([idle, new Promise((r) => setTimeout(r, waitMs))]);
    for (const e of this.vms.values()) e.vmm?.close();
  }
}
