/**
 * One VMM process: owns one guest. The vCPU runs in a worker; this (main) thread serves the control
 * socket, fans console output out to viewers, keeps the recent screen and the console log, samples
 * usage, enforces the memory cap, and writes exit.json before it exits on purpose so whoever
 * supervises it (now or after an agent restart) learns why.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { errorMessage, type Logger, SkiffError } from "@skiff/common";
import { DirtyBitmap } from "@skiff/hv-core/memory";
import { agentError } from "../errors.js";
import type { VmPaths } from "../vm/layout.js";
import { type ExitRecord, readRecord, type VmSpecRecord, writeExitRecord } from "../vm/record.js";
import { ConsoleLog } from "./console-log.js";
import { ConsoleRing } from "./console-ring.js";
import type { GuestMemory } from "./guest-memory.js";
import { LeaseWatch } from "./lease-watch.js";
import type { IncomingPlan } from "./migrate-protocol.js";
import type { MigrationHost } from "./migration-access.js";
import { VmmMigration } from "./migration-dispatch.js";
import { NicThread } from "./nic-thread.js";
import {
  encodeFrame,
  encodeJson,
  FrameDecoder,
  FrameType,
  parseJson,
  VMM_OPS,
  VMM_PROTOCOL_VERSION,
  type VmmHandlers,
  type VmmMessage,
  type VmmOp,
  type VmmReply,
  type VmmStatus,
} from "./protocol.js";
import { withSocketAddress } from "./socket-path.js";
import type { Vcpu } from "./vcpu.js";
import type { GuestEnd } from "./vcpu-messages.js";
import type { VcpuStart } from "./vcpu-start.js";

/** A viewer whose socket buffers more than this is too slow and is cut off, never the guest. */
const MAX_VIEWER_BACKLOG = 4 * 1024 * 1024;
const SAMPLE_EVERY_MS = 2000;
/** Between the SysRq keys of a graceful stop: sync, then remount read-only, then power off. */
const SYSRQ_GAP_MS = 700;

class Connection {
  readonly decoder = new FrameDecoder();
  viewer = false;
  readOnly = false;
  watcher = false;

  constructor(readonly socket: Socket) {}

  send(msg: VmmMessage): void {
    if (!this.socket.destroyed) this.socket.write(encodeJson(msg));
  }

  sendFrame(type: FrameType, bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(type, bytes));
  }
}

export class Vmm {
  private state: VmmStatus["state"] = "booting";
  private readonly ring = new ConsoleRing();
  private readonly consoleLog: ConsoleLog;
  private readonly memory: GuestMemory;
  private readonly dirty: DirtyBitmap;
  private vcpu: Vcpu | undefined;
  /** The NIC's link to the node switch, when the VM has a NIC. */
  private nic: NicThread | undefined;
  private server: Server | undefined;
  private readonly conns = new Set<Connection>();
  private readonly startedAtMs = Date.now();
  private instret = 0;
  private cpuShare = 0;
  /** Process CPU time and the clock at the last measurement (see measureCpu). */
  private cpuAt = { usage: process.cpuUsage(), ms: performance.now() };
  private dirtyPagesPerSec = 0;
  private sampleAt = Date.now();
  private sampler: NodeJS.Timeout | undefined;
  /** Mutating ops run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Set while a graceful stop waits for the guest to power off. */
  private onGuestEnd: ((e: GuestEnd) => void) | undefined;
  private exiting = false;
  /** The memory cap is checked unless a snapshot (a transient copy of RAM) is being written. */
  private memoryCheck = true;
  /** Live migration, out of this VMM or into it (migrate-*.ts). */
  private readonly migration: VmmMigration;
  private readonly handlers: VmmHandlers<Connection>;
  /** Watches the lease of a disk on shared storage while the guest runs. */
  private leaseWatch: LeaseWatch | undefined;

  constructor(
    private readonly vmId: string,
    private readonly paths: VmPaths,
    private readonly spec: VmSpecRecord,
    private readonly log: Logger,
    private readonly memoryCapBytes: number,
    /** The epoch this VMM runs the VM at (fences its disk on shared storage). */
    private epoch: number,
    /** The guest's memory and vCPU worker, started before this VMM's modules loaded (vcpu-start.ts). */
    private readonly early: VcpuStart,
  ) {
    this.consoleLog = new ConsoleLog(paths.consoleLog);
    this.memory = early.memory;
    this.dirty = new DirtyBitmap(Math.ceil(spec.memoryBytes / 4096), this.memory.dirty);
    this.migration = new VmmMigration(this.migrationHost());
    this.handlers = this.controlHandlers();
  }

  private migrationHost(): MigrationHost {
    return {
      vmId: this.vmId,
      paths: this.paths,
      spec: this.spec,
      memory: this.memory,
      dirty: this.dirty,
      log: this.log,
      vcpu: () => this.vcpu,
      state: () => this.state,
      setState: (s) => this.setState(s),
      serial: (fn) => this.serial(fn),
      finish: (exit) => this.finish(exit),
      holdNic: () => this.nic?.hold() ?? Promise.resolve(),
      resumeNic: () => this.nic?.resume(),
      started: (instret) => {
        this.instret = instret;
        this.sampler ??= setInterval(() => this.sample(), SAMPLE_EVERY_MS);
        this.watchLease();
      },
    };
  }

  /**
   * Boots (or restores) the guest, then serves the control socket. With an incoming plan the guest
   * comes from a live migration instead: the vCPU waits for its state, the stream is served.
   */
  async start(restore: boolean, incoming?: IncomingPlan): Promise<void> {
    const { vcpu, lowerRestore, nicPort } = this.early;
    this.vcpu = vcpu;
    this.early.events.attach({
      output: (bytes) => this.output(bytes),
      stats: (s) => {
        this.instret = s.instret;
        this.measureCpu();
      },
      rebooted: () => this.log.info("guest rebooted"),
      end: (e) => this.guestEnded(e),
    });
    // An incoming VMM links up too: the switch keeps the port away from it until the commit.
    if (nicPort) this.nic = new NicThread(this.paths.nic, nicPort, vcpu.wake, this.log);
    if (incoming) {
      this.state = "incoming";
      // The agent's prepare returns once this VMM answers: by then the worker must be loaded
      // and warm, or its start-up lands in the migration's pause.
      await vcpu.incomingReady;
      await this.migration.startIncoming(incoming);
      await this.listen();
      return;
    }
    this.instret = await vcpu.ready.finally(lowerRestore);
    // Usage is the running guest's: the worker's start-up (its isolate, the image load) is not.
    this.cpuAt = { usage: process.cpuUsage(), ms: performance.now() };
    this.state = "running";
    await this.listen();
    this.sampler = setInterval(() => this.sample(), SAMPLE_EVERY_MS);
    this.watchLease();
    // Where a start went (host clock): process, worker, boot or restore, first instruction.
    this.log.info(
      {
        restore,
        memoryBytes: this.spec.memoryBytes,
        vmmStartAtMs: performance.timeOrigin,
        ...vcpu.startTimes,
        firstInstructionAtMs: vcpu.readyAtMs,
      },
      "guest running",
    );
  }

  /** A disk on shared storage: stop the guest as soon as a newer generation owns the disk. */
  private watchLease(): void {
    const ds = this.spec.diskStorage;
    if (!ds || this.leaseWatch) return;
    this.leaseWatch = new LeaseWatch({
      vmId: this.vmId,
      leaseDir: ds.leaseDir,
      epoch: (fresh) => {
        if (fresh) {
          try {
            this.epoch = Math.max(this.epoch, readRecord(this.paths.config).epoch);
          } catch {
            // no readable record: the epoch this VMM started with stands
          }
        }
        return this.epoch;
      },
      tolerated: () => this.migration.toleratedEpoch,
      lost: (holder) => void this.fenced(holder),
    });
    this.leaseWatch.start();
  }

  private async fenced(holder: number): Promise<void> {
    const message = `fenced: epoch ${holder} owns the disk on shared storage (this VMM ran epoch ${this.epoch})`;
    this.log.error({ holder, epoch: this.epoch }, "disk lease lost: stopping the guest");
    // Stop the vCPU first: not one more write to a disk that is someone else's now.
    await this.vcpu?.pause().catch(() => undefined);
    await this.finish({ reason: "fatal", code: 75, message, atMs: Date.now() });
  }

  /**
   * The CPU this whole process (vCPU, console, sampling) used since the last measurement, as a
   * share of one core: what the VM costs the host. The vCPU's own time in its run slices is wall
   * time, so it reads high on a busy host (waiting for a core counts) and misses what the guest
   * makes the host do outside them.
   */
  private measureCpu(): void {
    const usage = process.cpuUsage();
    const ms = performance.now();
    const wallMs = ms - this.cpuAt.ms;
    if (wallMs < 200) return;
    const usedMs = (usage.user - this.cpuAt.usage.user + usage.system - this.cpuAt.usage.system) / 1000;
    this.cpuShare = Math.max(0, usedMs / wallMs);
    this.cpuAt = { usage, ms };
  }

  status(): VmmStatus {
    return {
      state: this.state,
      vmId: this.vmId,
      pid: process.pid,
      instret: this.instret,
      cpuShare: this.cpuShare,
      dirtyPagesPerSec: this.dirtyPagesPerSec,
      rssBytes: process.memoryUsage.rss(),
      startedAtMs: this.startedAtMs,
    };
  }

  private async listen(): Promise<void> {
    rmSync(this.paths.socket, { force: true });
    const server = createServer((s) => this.accept(s));
    this.server = server;
    await withSocketAddress(
      this.paths.socket,
      (address) =>
        new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(address, () => {
            server.off("error", reject);
            resolve();
          });
        }),
    );
  }

  private accept(socket: Socket): void {
    const conn = new Connection(socket);
    this.conns.add(conn);
    socket.on("close", () => this.conns.delete(conn));
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => {
      let frames: ReturnType<FrameDecoder["push"]>;
      try {
        frames = conn.decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const f of frames) this.frame(conn, f.type, f.payload);
    });
    conn.send({ t: "hello", protocol: VMM_PROTOCOL_VERSION, status: this.status() });
  }

  private frame(conn: Connection, type: number, payload: Buffer): void {
    if (type === FrameType.Input) {
      if (conn.viewer && !conn.readOnly) this.vcpu?.input(payload);
      return;
    }
    if (type !== FrameType.Json) return;
    let msg: VmmMessage;
    try {
      msg = parseJson(payload);
    } catch {
      conn.socket.destroy();
      return;
    }
    if (msg.t !== "req") return;
    const { id, op } = msg;
    if (!VMM_OPS.includes(op)) {
      conn.send({ t: "res", id, ok: false, error: { code: "VMM_UNKNOWN_OP", message: `unknown op ${op}` } });
      return;
    }
    this.handle(conn, op, msg.args).then(
      (reply) => {
        conn.send({ t: "res", id, ok: true, result: reply.result });
        reply.after?.();
      },
      (err: unknown) => {
        const code = err instanceof SkiffError ? err.code : "VMM_ERROR";
        conn.send({ t: "res", id, ok: false, error: { code, message: errorMessage(err) } });
      },
    );
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The control protocol: one handler per operation, typed by VmmOps (protocol.ts). */
  private controlHandlers(): VmmHandlers<Connection> {
    return {
      status: () => ({ result: this.status() }),
      watch: (conn) => {
        conn.watcher = true;
        return { result: this.status() };
      },
      attach: (conn, args) => {
        conn.viewer = true;
        conn.readOnly = args.readOnly === true;
        return {
          result: {},
          after: () => {
            if (args.replay !== false) conn.sendFrame(FrameType.Replay, this.ring.contents());
          },
        };
      },
      break: () => {
        this.vcpu?.sendBreak();
        return { result: {} };
      },
      pause: () =>
        this.serial(async () => {
          this.require("pause", ["running"]);
          await this.vcpu?.pause();
          this.setState("paused");
          return { result: this.status() };
        }),
      resume: () =>
        this.serial(async () => {
          this.require("resume", ["paused"]);
          await this.vcpu?.resume();
          this.setState("running");
          return { result: this.status() };
        }),
      reboot: () =>
        this.serial(async () => {
          this.require("reboot", ["running", "paused"]);
          await this.vcpu?.reboot();
          if (this.state === "paused") await this.vcpu?.resume();
          this.setState("running");
          return { result: this.status() };
        }),
      stop: (_conn, args) =>
        this.serial(() => this.stop(args.force === true, Number(args.timeoutMs) || 30_000)),
      suspend: () => this.serial(() => this.suspend()),
      ...this.migration.handlers,
    };
  }

  /** Requests come off the wire as JSON: the one place their arguments are taken on trust. */
  private async handle(conn: Connection, op: VmmOp, args: unknown): Promise<VmmReply<VmmOp>> {
    const handler = this.handlers[op] as (conn: Connection, args: unknown) => Promise<VmmReply<VmmOp>>;
    return handler(conn, args ?? {});
  }

  private require(op: string, states: VmmStatus["state"][]): void {
    if (!states.includes(this.state)) {
      throw agentError("VMM_INVALID_STATE", `cannot ${op} while ${this.state}`);
    }
  }

  private setState(state: VmmStatus["state"]): void {
    this.state = state;
    const status = this.status();
    for (const c of this.conns) if (c.watcher) c.send({ t: "event", status });
  }

  /**
   * Graceful stop: BREAK + SysRq 's' (sync), 'u' (remount read-only), 'o' (power off) on the serial
   * port, as an operator would type them (the guest kernel has MAGIC_SYSRQ_SERIAL). A guest that
   * powers off by itself in the meantime ends the wait too. Forced past the timeout.
   */
  private async stop(force: boolean, timeoutMs: number): Promise<VmmReply<"stop">> {
    this.require("stop", ["running", "paused"]);
    const vcpu = this.vcpu;
    if (force || vcpu === undefined) {
      return {
        result: { graceful: false },
        after: () => void this.finish({ reason: "stop", code: 0, message: "forced", atMs: Date.now() }),
      };
    }
    if (this.state === "paused") await vcpu.resume();
    this.setState("stopping");
    const ended = new Promise<GuestEnd>((resolve) => {
      this.onGuestEnd = resolve;
    });
    const timers: NodeJS.Timeout[] = [];
    ["s", "u", "o"].forEach((key, i) => {
      timers.push(
        setTimeout(() => {
          vcpu.sendBreak();
          vcpu.input(Buffer.from(key));
        }, i * SYSRQ_GAP_MS),
      );
    });
    let deadline: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      ended,
      new Promise<"timeout">((resolve) => {
        deadline = setTimeout(() => resolve("timeout"), timeoutMs);
      }),
    ]);
    for (const t of timers) clearTimeout(t);
    clearTimeout(deadline);
    this.onGuestEnd = undefined;
    const graceful = outcome !== "timeout" && outcome.kind === "poweroff";
    const message = graceful
      ? "graceful"
      : outcome === "timeout"
        ? `forced after ${timeoutMs} ms`
        : outcome.message;
    return {
      result: { graceful },
      after: () => void this.finish({ reason: "stop", code: 0, message, atMs: Date.now() }),
    };
  }

  /** Snapshot with RAM to disk (fsynced, renamed into place), then exit: the RAM is freed. */
  private async suspend(): Promise<VmmReply<"suspend">> {
    this.require("suspend", ["running", "paused"]);
    const vcpu = this.vcpu;
    if (vcpu === undefined) throw agentError("VMM_INVALID_STATE", "no vcpu");
    if (this.state === "running") await vcpu.pause();
    this.setState("paused");
    // The snapshot is a second copy of guest RAM for a moment: not a reason to end the VMM.
    this.memoryCheck = false;
    const snap = await vcpu.snapshot(true);
    const tmp = `${this.paths.snapshot}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, snap);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.paths.snapshot);
    this.log.info({ bytes: snap.length }, "suspended to disk");
    return {
      result: { snapshotBytes: snap.length },
      after: () =>
        void this.finish({ reason: "suspend", code: 0, message: `${snap.length} bytes`, atMs: Date.now() }),
    };
  }

  private output(bytes: Uint8Array): void {
    this.ring.write(bytes);
    this.consoleLog.write(bytes);
    for (const c of this.conns) {
      if (!c.viewer) continue;
      if (c.socket.writableLength > MAX_VIEWER_BACKLOG) {
        c.socket.destroy();
        continue;
      }
      c.sendFrame(FrameType.Output, bytes);
    }
  }

  private guestEnded(e: GuestEnd): void {
    if (this.onGuestEnd) {
      this.onGuestEnd(e);
      return;
    }
    if (this.exiting) return;
    void this.finish({
      reason: e.kind === "poweroff" ? "poweroff" : "fatal",
      code: e.code,
      message: e.message,
      atMs: Date.now(),
    });
  }

  private sample(): void {
    const now = Date.now();
    const dt = (now - this.sampleAt) / 1000;
    this.sampleAt = now;
    // Readers fetch-and-clear the dirty bitmap; this sampler is its only reader until a migration
    // takes it over.
    // (A migration owns the bitmap while it runs: clearing it then would lose pages.)
    if (!this.migration.active) this.dirtyPagesPerSec = dt > 0 ? this.dirty.fetchAndClear().length / dt : 0;
    const rss = process.memoryUsage.rss();
    if (this.memoryCheck && rss > this.memoryCapBytes) {
      this.log.error({ rss, cap: this.memoryCapBytes }, "memory cap exceeded");
      void this.finish({
        reason: "fatal",
        code: 137,
        message: `out of memory: rss ${rss} > cap ${this.memoryCapBytes}`,
        atMs: now,
      });
    }
  }

  /** Ends the VMM on purpose: exit.json first, then tell every connection, then go. */
  async finish(exit: ExitRecord): Promise<void> {
    if (this.exiting) return;
    this.exiting = true;
    this.state = "exiting";
    this.log.info({ exit }, "vmm exiting");
    clearInterval(this.sampler);
    this.leaseWatch?.stop();
    try {
      writeExitRecord(this.paths.exit, exit);
    } catch (err) {
      this.log.error({ err }, "cannot write exit record");
    }
    await this.vcpu?.terminate().catch(() => undefined);
    await this.nic?.close().catch(() => undefined);
    this.consoleLog.close();
    this.server?.close();
    const closing = [...this.conns].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.socket.once("close", () => resolve());
          c.send({ t: "exiting", exit });
          c.socket.end();
          setTimeout(() => {
            c.socket.destroy();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(closing);
    rmSync(this.paths.socket, { force: true });
    rmSync(this.paths.pid, { force: true });
    process.exit(exit.reason === "fatal" ? 1 : 0);
  }
}
