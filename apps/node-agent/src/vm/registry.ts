/**
 * The VMs of this node: their records on disk, their VMM connections, and every command applied
 * through the lifecycle table under epoch fencing. Commands on one VM run one at a time.
 */
import {
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
} from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { errorMessage, type Logger, SkiffError } from "@skiff/common";
import { claimLease, LEASE_GRACE_MS, leaseHolder, pruneLeases } from "../storage/lease.js";
import { deleteDiskDir, type SharedStorage } from "../storage/shared.js";
import { VmmClient } from "../vmm/client.js";
import { isAlive, isVmmFor, killVmm, rssOf } from "../vmm/process.js";
import type { VmmStatus } from "../vmm/protocol.js";
import { spawnVmm } from "../vmm/spawn.js";
import { type VmPaths, validateVmId, vmPaths, vmsDir } from "./layout.js";
import { hasVmm, transition, type VmEvent, type VmStateName } from "./lifecycle.js";
import {
  type BootModeName,
  type ExitRecord,
  readExitRecord,
  readRecord,
  type VmRecord,
  type VmSpecRecord,
  writeRecord,
} from "./record.js";

export interface VmRef {
  readonly vmId: string;
  readonly epoch: number;
}

/** CreateVm's spec as the caller gives it (paths may be relative to the repo root). */
export interface VmSpecInput {
  memoryBytes: number;
  vcpus: number;
  bootMode: BootModeName;
  kernelPath: string;
  initrdPath: string;
  diskImagePath: string;
  diskBytes: number;
  kernelArgs: string;
  cpuMillis: number;
  vmmOverheadMib: number;
  labels: Record<string, string>;
  /**
   * The disk must exist already (shared storage: the VPS ran before, e.g. a cold restart after
   * its node failed); a missing one is DISK_NOT_FOUND, never a fresh copy of the image.
   */
  diskMustExist: boolean;
}

/** What callers see of a VM. */
export interface VmView {
  readonly record: Readonly<VmRecord>;
  readonly vmmPid: number;
  readonly status: VmmStatus | undefined;
  readonly rssBytes: number;
}

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

class VmEntry {
  vmm: VmmClient | undefined;
  pid = 0;
  status: VmmStatus | undefined;
  /** When this node took the VM's shared disk over from an older epoch (0: it did not). */
  takeoverAtMs = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    public record: VmRecord,
    readonly paths: VmPaths,
  ) {}

  /** Runs `fn` after every command queued before it on this VM. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  idle(): Promise<unknown> {
    return this.queue;
  }
}

const MAX_MEMORY = 2 ** 31;
/** How long a restarted agent waits for a live VMM without a socket yet (booting, restoring). */
const REATTACH_WAIT_MS = 10_000;

export class VmRegistry {
  private readonly vms = new Map<string, VmEntry>();
  private closing = false;
  private poller: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: RegistryOptions) {
    this.log = opts.log.child({ part: "registry" });
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
        // A CreateVm that died before its record was written: nothing was promised to anyone.
        this.log.warn({ vmId: id }, "removing a VM dir without a record");
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
      reattaching.push(this.reattach(entry));
    }
    await Promise.all(reattaching);
    this.poller = setInterval(() => void this.refresh(), 2000);
    this.poller.unref();
  }

  private async reattach(entry: VmEntry): Promise<void> {
    const { record, paths } = entry;
    const was = record.state;
    const pid = Number.parseInt(readOrEmpty(paths.pid), 10) || 0;
    const live = () => pid > 0 && isAlive(pid) && isVmmFor(pid, paths.dir);
    // A live VMM may still be booting or restoring (no socket yet): give it time before judging.
    const deadline = Date.now() + (live() ? REATTACH_WAIT_MS : 0);
    for (;;) {
      if (existsSync(paths.socket)) {
        try {
          const client = await VmmClient.connect(paths.socket, {}, 2000);
          this.supervise(entry, client);
          const status = await client.request("watch", {});
          entry.status = status;
          // The VMM is the truth about a running guest (e.g. the agent died mid-StartVm).
          record.state = status.state === "paused" ? "paused" : "running";
          if (was !== record.state) this.persist(entry);
          this.log.info({ vmId: record.vmId, pid: entry.pid, state: record.state }, "reattached to VMM");
          return;
        } catch (err) {
          this.log.warn({ vmId: record.vmId, err: errorMessage(err) }, "VMM socket does not answer");
        }
      }
      if (!live() || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (live()) {
      // Never two VMMs on one disk: one that cannot be reached is ended before anything else runs.
      this.log.warn({ vmId: record.vmId, pid }, "killing a VMM that does not answer");
      await killVmm(pid, paths.dir);
    }
    if (!hasVmm(record.state)) return;
    // It ran when the agent left and no VMM answers now: find out why, report, never restart.
    this.settleExit(entry, readExitRecord(paths.exit), "vmm-died while the agent was away");
    this.log.warn({ vmId: record.vmId, state: record.state, lastExit: record.lastExit }, "VMM gone");
  }

  /** Maps how a VMM ended to the VM's next state (and persists it). */
  private settleExit(entry: VmEntry, exit: ExitRecord | undefined, unknown: string): void {
    const r = entry.record;
    entry.vmm = undefined;
    entry.pid = 0;
    entry.status = undefined;
    if (!hasVmm(r.state)) return;
    if (exit?.reason === "migrated") {
      // Live-migrated away (the destination runs it at a higher epoch): nothing of it stays here.
      this.forget(entry, exit.message, exit);
      return;
    }
    let event: VmEvent;
    if (exit === undefined) {
      event = "crash";
      r.lastExit = unknown;
      r.exitCode = -1;
    } else {
      r.lastExit = exit.reason === "fatal" ? `fatal: ${exit.message}` : `${exit.reason}: ${exit.message}`;
      r.exitCode = exit.code;
      event =
        exit.reason === "fatal"
          ? "crash"
          : exit.reason === "suspend"
            ? existsSync(entry.paths.snapshot)
              ? "suspend"
              : "crash"
            : exit.reason === "stop"
              ? "stop"
              : "poweroff";
    }
    r.state = transition(r.vmId, r.state, event);
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
    if (!e) throw new SkiffError("VM_NOT_FOUND", `no vm ${vmId} on this node`, { vmId });
    return e;
  }

  /** Fencing: a lower epoch is refused; a higher one becomes the VM's epoch. */
  private fence(entry: VmEntry, epoch: number): void {
    const held = entry.record.epoch;
    if (epoch < held) {
      throw new SkiffError(
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
      const ds = entry.record.spec.diskStorage;
      const owner = ds ? leaseHolder(ds.leaseDir) : 0;
      if (ds && owner > epoch) {
        throw new SkiffError(
          "STALE_EPOCH",
          `the disk of vm ${entry.record.vmId} is owned by epoch ${owner}, command carries ${epoch}`,
          { vmId: entry.record.vmId, held: owner, given: epoch },
        );
      }
      this.log.info({ vmId: entry.record.vmId, from: held, to: epoch }, "epoch raised");
      entry.record.epoch = epoch;
      this.persist(entry);
      // A running VMM now holds the disk at the new epoch (it re-reads its record when it sees it).
      if (ds && hasVmm(entry.record.state))
        claimLease(ds.leaseDir, entry.record.vmId, epoch, this.opts.nodeName);
    }
  }

  private guard(): void {
    if (this.closing) throw new SkiffError("AGENT_SHUTTING_DOWN", "the agent is shutting down");
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

  private resolvePath(p: string): string {
    return isAbsolute(p) ? p : resolve(this.opts.repoRoot, p);
  }

  private validate(input: VmSpecInput): void {
    const bad = (msg: string): never => {
      throw new SkiffError("INVALID_ARGUMENT", msg);
    };
    const m = input.memoryBytes;
    if (!Number.isInteger(m) || m < 1 << 20 || m > MAX_MEMORY || m % 4096 !== 0)
      bad(`memory_bytes must be a multiple of 4 KiB between 1 MiB and 2 GiB, got ${m}`);
    if (input.vcpus > 1) bad("only 1 vcpu per VM is supported");
    if (input.kernelPath === "") bad("kernel_path is required");
    for (const [what, p] of [
      ["kernel", input.kernelPath],
      ["initrd", input.initrdPath],
      ["disk image", input.diskImagePath],
    ] as const) {
      if (p !== "" && !existsSync(this.resolvePath(p))) bad(`${what} ${p} does not exist`);
    }
    if (input.cpuMillis < 0 || input.cpuMillis > 1000) bad("cpu_millis must be 0..1000");
  }

  private specRecord(vmId: string, input: VmSpecInput, paths: VmPaths): VmSpecRecord {
    const shared = input.diskImagePath !== "" ? this.opts.storage : undefined;
    return {
      memoryBytes: input.memoryBytes,
      vcpus: 1,
      bootMode: input.bootMode,
      kernelPath: this.resolvePath(input.kernelPath),
      initrdPath: input.initrdPath === "" ? "" : this.resolvePath(input.initrdPath),
      diskPath: input.diskImagePath === "" ? "" : shared ? shared.diskPath(vmId) : paths.disk,
      ...(shared ? { diskStorage: { id: shared.id, leaseDir: shared.diskDir(vmId) } } : {}),
      diskBytes: input.diskBytes,
      kernelArgs: input.kernelArgs,
      cpuMillis: input.cpuMillis,
      vmmOverheadMib: input.vmmOverheadMib > 0 ? input.vmmOverheadMib : this.opts.vmmOverheadMib,
      labels: { ...input.labels },
    };
  }

  async create(ref: VmRef, input: VmSpecInput, start: boolean): Promise<VmView> {
    this.guard();
    validateVmId(ref.vmId);
    const existing = this.vms.get(ref.vmId);
    if (existing) {
      return existing.serial(async () => {
        if (ref.epoch < existing.record.epoch) this.fence(existing, ref.epoch);
        if (ref.epoch > existing.record.epoch) {
          throw new SkiffError(
            "VM_EXISTS",
            `vm ${ref.vmId} exists at epoch ${existing.record.epoch}: destroy it first`,
          );
        }
        return this.view(existing); // the same CreateVm again: idempotent
      });
    }
    this.validate(input);
    const paths = vmPaths(this.opts.dataDir, ref.vmId);
    const now = Date.now();
    const spec = this.specRecord(ref.vmId, input, paths);
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
        if (input.diskImagePath !== "") this.makeDisk(entry, input);
        this.persist(entry);
      } catch (err) {
        this.vms.delete(ref.vmId);
        // Only this node's part: a disk on shared storage is the VPS's, whoever made it.
        rmSync(paths.dir, { recursive: true, force: true });
        if (err instanceof SkiffError && (err.code === "STALE_EPOCH" || err.code === "DISK_NOT_FOUND"))
          throw err;
        throw new SkiffError("VM_CREATE_FAILED", `create ${ref.vmId}: ${errorMessage(err)}`);
      }
      this.log.info({ vmId: ref.vmId, epoch: ref.epoch, memoryBytes: spec.memoryBytes }, "vm created");
      if (start) await this.boot(entry, false);
      return this.view(entry);
    });
  }

  /**
   * The VM's disk at create. Local: a reflink where the filesystem has them, else a copy, grown
   * (sparse) to disk_bytes. Shared: the VPS's disk on the storage, made from the image only if it
   * has none yet, and claimed for this epoch (a higher epoch owning it refuses the create).
   */
  private makeDisk(entry: VmEntry, input: VmSpecInput): void {
    const { vmId, epoch, spec } = entry.record;
    const storage = this.opts.storage;
    const ds = spec.diskStorage;
    if (!storage || !ds) {
      if (input.diskMustExist) {
        throw new SkiffError(
          "DISK_NOT_FOUND",
          `vm ${vmId} must start from its existing disk, and this node keeps disks locally`,
          { vmId },
        );
      }
      copyFileSync(this.resolvePath(input.diskImagePath), spec.diskPath, constants.COPYFILE_FICLONE);
      if (input.diskBytes > statSync(spec.diskPath).size) truncateSync(spec.diskPath, input.diskBytes);
      return;
    }
    const owner = leaseHolder(ds.leaseDir);
    if (owner > epoch) {
      throw new SkiffError(
        "STALE_EPOCH",
        `the disk of vm ${vmId} on shared storage is owned by epoch ${owner}, CreateVm carries ${epoch}`,
        { vmId, held: owner, given: epoch },
      );
    }
    const { created } = storage.ensureDisk(
      vmId,
      this.resolvePath(input.diskImagePath),
      input.diskBytes,
      input.diskMustExist,
    );
    const claim = claimLease(ds.leaseDir, vmId, epoch, this.opts.nodeName);
    if (claim.tookOverFrom !== undefined) entry.takeoverAtMs = Date.now();
    this.log.info(
      { vmId, epoch, storage: ds.id, tookOverFrom: claim.tookOverFrom },
      created ? "disk made on shared storage from the image" : "the VPS's disk on shared storage, reused",
    );
  }

  /**
   * Before a VMM opens a disk on shared storage: own it at this epoch, and after taking it over
   * from an older one give that one's VMM the grace to notice and stop writing.
   */
  private async ownDisk(entry: VmEntry): Promise<void> {
    const r = entry.record;
    const ds = r.spec.diskStorage;
    if (!ds) return;
    const claim = claimLease(ds.leaseDir, r.vmId, r.epoch, this.opts.nodeName);
    if (claim.tookOverFrom !== undefined) entry.takeoverAtMs = Date.now();
    const wait = entry.takeoverAtMs + LEASE_GRACE_MS - Date.now();
    if (wait > 0) {
      this.log.info(
        { vmId: r.vmId, epoch: r.epoch, waitMs: wait },
        "disk taken over: waiting out the lease grace",
      );
      await new Promise((res) => setTimeout(res, wait));
    }
    pruneLeases(ds.leaseDir, r.epoch);
  }

  private async boot(entry: VmEntry, restore: boolean): Promise<void> {
    const r = entry.record;
    const next = transition(r.vmId, r.state, restore ? "resumeSuspended" : "start");
    await this.ownDisk(entry);
    rmSync(entry.paths.exit, { force: true });
    // Never two VMMs on one disk (a leftover from an agent that died mid-start).
    await killVmm(Number.parseInt(readOrEmpty(entry.paths.pid), 10) || 0, entry.paths.dir);
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
        throw new SkiffError("SNAPSHOT_MISSING", `vm ${ref.vmId}: the suspend snapshot is gone`);
      }
      await this.boot(e, true);
      return this.view(e);
    });
  }

  /** The VMM of a VM that must have one (running or paused). */
  private vmmOf(e: VmEntry, event: VmEvent): VmmClient {
    transition(e.record.vmId, e.record.state, event);
    if (!e.vmm?.connected) {
      throw new SkiffError("VMM_GONE", `vm ${e.record.vmId}: its VMM is not connected`);
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
      e.vmm = undefined;
      e.pid = 0;
      e.status = undefined;
      e.record.state = transition(ref.vmId, e.record.state, "stop");
      e.record.lastExit = graceful ? "stop: graceful" : "stop: forced";
      e.record.exitCode = 0;
      this.persist(e);
      return { view: this.view(e), graceful };
    });
  }

  private simple(ref: VmRef, event: "pause" | "resume" | "reboot"): Promise<VmView> {
    return this.command(ref, async (e) => {
      const client = this.vmmOf(e, event);
      e.status = await client.request(event, {});
      e.record.state = transition(ref.vmId, e.record.state, event);
      this.persist(e);
      return this.view(e);
    });
  }

  pause(ref: VmRef): Promise<VmView> {
    return this.simple(ref, "pause");
  }

  resume(ref: VmRef): Promise<VmView> {
    return this.simple(ref, "resume");
  }

  reboot(ref: VmRef): Promise<VmView> {
    return this.simple(ref, "reboot");
  }

  suspend(ref: VmRef): Promise<{ view: VmView; snapshotBytes: number }> {
    return this.command(ref, async (e) => {
      const client = this.vmmOf(e, "suspend");
      const { snapshotBytes } = await client.request("suspend", {}, 120_000);
      await this.awaitExit(e, client);
      e.vmm = undefined;
      e.pid = 0;
      e.status = undefined;
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
    const owner = deleteDisk && leaseDir !== undefined ? leaseHolder(leaseDir) : 0;
    if (owner > ref.epoch) {
      throw new SkiffError(
        "STALE_EPOCH",
        `the disk of vm ${ref.vmId} is owned by epoch ${owner}: not deleted for epoch ${ref.epoch}`,
        { vmId: ref.vmId, held: owner, given: ref.epoch },
      );
    }
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
    return {
      record: structuredClone(e.record),
      vmmPid: e.pid,
      status: e.status,
      rssBytes: e.pid > 0 ? rssOf(e.pid) : 0,
    };
  }

  /** Opens a console connection to a running VM's VMM (one per viewer). */
  async openConsole(
    ref: VmRef,
    opts: { replay: boolean; readOnly: boolean },
    output: (bytes: Uint8Array, replay: boolean) => void,
  ): Promise<VmmClient> {
    const e = await this.command(ref, async (entry) => entry);
    if (!hasVmm(e.record.state)) {
      throw new SkiffError("VM_NOT_RUNNING", `vm ${ref.vmId} is ${e.record.state}: no console`);
    }
    const client = await VmmClient.connect(e.paths.socket, { output });
    await client.request("attach", opts);
    return client;
  }

  /**
   * The VM's state once no VMM connection is pending settlement (bounded wait); undefined if the
   * VM is gone.
   */
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
    const out: Record<VmStateName, number> = {
      created: 0,
      running: 0,
      paused: 0,
      stopped: 0,
      suspended: 0,
      crashed: 0,
    };
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
        throw new SkiffError("INVALID_TRANSITION", `vm ${ref.vmId} is ${e.record.state}: cannot migrate`, {
          vmId: ref.vmId,
        });
      }
      if (!e.vmm?.connected) throw new SkiffError("VMM_GONE", `vm ${ref.vmId}: its VMM is not connected`);
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

  /** Takes in a VM a live migration committed here (its VMM runs, its record is on disk). */
  async adopt(vmId: string): Promise<VmView> {
    this.guard();
    if (this.vms.has(vmId)) throw new SkiffError("VM_EXISTS", `vm ${vmId} is already held here`, { vmId });
    const paths = vmPaths(this.opts.dataDir, vmId);
    const entry = new VmEntry(readRecord(paths.config), paths);
    this.vms.set(vmId, entry);
    await entry.serial(() => this.reattach(entry));
    return this.view(entry);
  }

  /** Validates a spec as CreateVm does and resolves it for this node (a migration target's). */
  migrationSpec(vmId: string, input: VmSpecInput): VmSpecRecord {
    validateVmId(vmId);
    this.validate(input);
    return this.specRecord(vmId, input, vmPaths(this.opts.dataDir, vmId));
  }

  /** True when this node holds the VM. */
  has(vmId: string): boolean {
    return this.vms.has(vmId);
  }

  /**
   * Shutdown: refuse new commands, let running ones finish (bounded), then let go of the VMMs.
   * The VMs keep running; a restarted agent reattaches.
   */
  async close(waitMs = 10_000): Promise<void> {
    this.closing = true;
    clearInterval(this.poller);
    const idle = Promise.all([...this.vms.values()].map((e) => e.idle()));
    await Promise.race([idle, new Promise((r) => setTimeout(r, waitMs))]);
    for (const e of this.vms.values()) e.vmm?.close();
  }
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
