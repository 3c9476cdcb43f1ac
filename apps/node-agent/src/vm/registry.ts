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
      this.forget(entry, exit.message);
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
      this.log.info({ vmId: entry.record.vmId, from: held, to: epoch }, "epoch raised");
      entry.record.epoch = epoch;
      this.persist(entry);
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

  private specRecord(input: VmSpecInput, paths: VmPaths): VmSpecRecord {
    return {
      memoryBytes: input.memoryBytes,
      vcpus: 1,
      bootMode: input.bootMode,
      kernelPath: this.resolvePath(input.kernelPath),
      initrdPath: input.initrdPath === "" ? "" : this.resolvePath(input.initrdPath),
      diskPath: input.diskImagePath === "" ? "" : paths.disk,
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
    const spec = this.specRecord(input, paths);
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
        if (input.diskImagePath !== "") {
          // A reflink where the filesystem has them, else a copy; then grown (sparse) to disk_bytes.
          copyFileSync(this.resolvePath(input.diskImagePath), paths.disk, constants.COPYFILE_FICLONE);
          if (input.diskBytes > statSync(paths.disk).size) truncateSync(paths.disk, input.diskBytes);
        }
        this.persist(entry);
      } catch (err) {
        this.vms.delete(ref.vmId);
        rmSync(paths.dir, { recursive: true, force: true });
        throw new SkiffError("VM_CREATE_FAILED", `create ${ref.vmId}: ${errorMessage(err)}`);
      }
      this.log.info({ vmId: ref.vmId, epoch: ref.epoch, memoryBytes: spec.memoryBytes }, "vm created");
      if (start) await this.boot(entry, false);
      return this.view(entry);
    });
  }

  private async boot(entry: VmEntry, restore: boolean): Promise<void> {
    const r = entry.record;
    const next = transition(r.vmId, r.state, restore ? "resumeSuspended" : "start");
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

  /** Kills the VMM if any and removes everything of the VM. A VM this node does not hold is fine. */
  async destroy(ref: VmRef): Promise<void> {
    this.guard();
    if (!this.vms.has(ref.vmId)) return;
    await this.command(ref, async (e) => {
      const client = e.vmm;
      e.vmm = undefined;
      if (client) {
        client.close();
        await killVmm(client.hello.pid, e.paths.dir);
      }
      rmSync(e.paths.dir, { recursive: true, force: true });
      this.vms.delete(ref.vmId);
      this.log.info({ vmId: ref.vmId }, "vm destroyed");
    });
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

  /** Removes a VM that left this node by live migration: its record, its dir, its entry. */
  private forget(entry: VmEntry, why: string): void {
    entry.vmm = undefined;
    entry.pid = 0;
    rmSync(entry.paths.dir, { recursive: true, force: true });
    if (this.vms.get(entry.record.vmId) === entry) this.vms.delete(entry.record.vmId);
    this.log.info({ vmId: entry.record.vmId, why }, "vm migrated away");
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
          await this.awaitExit(e, client);
          this.forget(e, "migration committed");
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
    return this.specRecord(input, vmPaths(this.opts.dataDir, vmId));
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
