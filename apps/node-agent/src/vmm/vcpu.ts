import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { agentError } from "../errors.js";
import type { VmSpecRecord } from "../vm/record.js";
import { CommitWord } from "./commit-word.js";
import type { GuestMemory } from "./guest.js";
import {
  CONTROL_WORDS,
  type FromVcpu,
  type GuestEnd,
  type StagedRecord,
  type ToVcpu,
  type VcpuWorkerData,
  WAKE,
} from "./vcpu-messages.js";

export interface VcpuEvents {
  output(bytes: Uint8Array): void;
  stats(s: { instret: number }): void;
  rebooted(): void;
  /** The guest ended (poweroff, fatal) or the worker died; called once. */
  end(e: GuestEnd): void;
}

/** The main thread's handle on the vCPU worker. */
export class Vcpu {
  private readonly worker: Worker;
  private readonly port: MessageChannel["port1"];
  private readonly ctl: Int32Array;
  /** The wake word's buffer: whoever posts to the worker bumps it and notifies (WAKE). */
  readonly wake: SharedArrayBuffer;
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve(ack: { snapshot?: Uint8Array; atMs?: number }): void; reject(e: Error): void }
  >();
  private ended = false;
  readonly ready: Promise<number>;
  /** Incoming: the worker is loaded and waits for the device state (rejects if it ended first). */
  readonly incomingReady: Promise<void>;
  /** Host clock (wallMs) just before the guest's first instruction. */
  readyAtMs = 0;
  /** Where the start went: host clock when the worker was created and had loaded, build ms. */
  startTimes = { workerCreatedAtMs: 0, workerLoadedAtMs: 0, buildMs: 0 };
  private readonly restoring = new Map<number, (error: string, atMs: number) => void>();
  /** Incoming migration: who decides the commit (this thread allows or refuses, the worker commits). */
  private readonly commitWord: CommitWord;
  private commitSettled: (error: string, atMs: number) => void = () => undefined;

  constructor(
    spec: VmSpecRecord,
    memory: GuestMemory,
    restorePath: string | undefined,
    private readonly on: VcpuEvents,
    /** nic: the vCPU's end of the frame path to the VMM's NIC thread. */
    opts: { incoming?: boolean; nic?: MessagePort } = {},
  ) {
    const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
    this.wake = control;
    this.ctl = new Int32Array(control);
    this.commitWord = new CommitWord(this.ctl);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const data: VcpuWorkerData & { port: unknown } = {
      spec,
      memory,
      control,
      restorePath,
      port: port2,
      ...(opts.incoming ? { incoming: true } : {}),
      ...(opts.nic ? { nic: opts.nic } : {}),
    };
    this.startTimes.workerCreatedAtMs = performance.timeOrigin + performance.now();
    this.worker = new Worker(new URL("./vcpu-worker.js", import.meta.url), {
      workerData: data,
      transferList: opts.nic ? [port2, opts.nic] : [port2],
      // The guest's RAM is a SharedArrayBuffer outside this heap; the heap holds hv-core's own state.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    let readyResolve: (instret: number) => void = () => undefined;
    let readyReject: (e: Error) => void = () => undefined;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    let waitingResolve: () => void = () => undefined;
    // A worker that ends before it waits rejects `ready`, which ends this wait too.
    this.incomingReady = Promise.race([
      new Promise<void>((res) => {
        waitingResolve = res;
      }),
      this.ready.then(() => undefined),
    ]);
    this.incomingReady.catch(() => undefined);
    this.worker.on("message", (msg: FromVcpu) => {
      switch (msg.t) {
        case "waiting":
          waitingResolve();
          break;
        case "ready":
          this.readyAtMs = msg.atMs;
          this.startTimes = {
            ...this.startTimes,
            workerLoadedAtMs: msg.workerLoadedAtMs,
            buildMs: msg.buildMs,
          };
          readyResolve(msg.instret);
          break;
        case "output":
          this.on.output(msg.bytes);
          break;
        case "stats":
          this.on.stats(msg);
          break;
        case "rebooted":
          this.on.rebooted();
          break;
        case "restored":
          this.restoring.get(msg.id)?.(msg.error, msg.atMs);
          this.restoring.delete(msg.id);
          break;
        case "committed":
          this.commitSettled(msg.error, msg.atMs);
          break;
        case "ack": {
          const w = this.waiting.get(msg.id);
          this.waiting.delete(msg.id);
          w?.resolve(msg);
          break;
        }
        case "end":
          readyReject(agentError("VMM_BOOT_FAILED", msg.end.message));
          this.finish(msg.end);
          break;
      }
    });
    this.worker.on("error", (err) => {
      readyReject(agentError("VMM_BOOT_FAILED", err.message));
      this.finish({ kind: "fatal", code: 70, message: `vcpu worker: ${err.stack ?? err.message}` });
    });
    this.worker.on("exit", (code) => {
      this.finish({ kind: "fatal", code, message: `vcpu worker exited (${code})` });
    });
  }

  private finish(e: GuestEnd): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiting.values()) w.reject(agentError("VMM_GUEST_ENDED", e.message));
    this.waiting.clear();
    for (const r of this.restoring.values()) r(`the vcpu ended: ${e.message}`, 0);
    this.restoring.clear();
    this.commitSettled(`the vcpu ended: ${e.message}`, 0);
    this.on.end(e);
  }

  private send(msg: ToVcpu): void {
    this.port.postMessage(msg);
    this.wakeWorker();
  }

  /** Bumps the wake word: a worker asleep on it (WFI, paused, waiting) looks again. */
  private wakeWorker(): void {
    Atomics.add(this.ctl, WAKE, 1);
    Atomics.notify(this.ctl, WAKE);
  }

  private request(msg: ToVcpu & { id: number }): Promise<{ snapshot?: Uint8Array; atMs?: number }> {
    if (this.ended) return Promise.reject(agentError("VMM_GUEST_ENDED", "the guest has ended"));
    return new Promise((resolve, reject) => {
      this.waiting.set(msg.id, { resolve, reject });
      this.send(msg);
    });
  }

  async pause(): Promise<void> {
    await this.request({ t: "pause", id: this.nextId++ });
  }

  /**
   * A live migration's pause: the worker stops the guest at the pause's priority and answers
   * with its device state (no RAM) and the host clock (wallMs) of its last instruction.
   */
  async pauseWithState(): Promise<{ atMs: number; state: Uint8Array }> {
    const { atMs, snapshot } = await this.request({ t: "pause", id: this.nextId++, withState: true });
    if (snapshot === undefined || atMs === undefined)
      throw agentError("VMM_SNAPSHOT_FAILED", "the vcpu sent no device state");
    return { atMs, state: snapshot };
  }

  async resume(): Promise<void> {
    await this.request({ t: "resume", id: this.nextId++ });
  }

  async reboot(): Promise<void> {
    await this.request({ t: "reboot", id: this.nextId++ });
  }

  async snapshot(includeRam: boolean): Promise<Uint8Array> {
    const { snapshot: snap } = await this.request({ t: "snapshot", id: this.nextId++, includeRam });
    if (snap === undefined) throw agentError("VMM_SNAPSHOT_FAILED", "the vcpu sent no snapshot");
    return snap;
  }

  /** Live migration: hold the vCPU back `percent` of the time (0 = full speed). */
  throttle(percent: number): void {
    if (!this.ended) this.send({ t: "throttle", percent });
  }

  /**
   * Incoming migration, before the pause: the waiting worker builds the machine the device state
   * will be restored into (the VM's disk, if any, must be open and sized by now).
   */
  buildIncoming(diskDirty: SharedArrayBuffer | undefined): void {
    if (!this.ended) this.send({ t: "build", diskDirty });
  }

  /**
   * Incoming migration: the waiting worker restores the device state (RAM is in place) but does
   * not run it yet. Resolves with the host clock when it was done; rejects when the state does
   * not restore. `record` is renamed into place by the worker at the commit (commitIncoming).
   */
  prepareIncoming(
    snapshot: Uint8Array,
    diskDirty: SharedArrayBuffer | undefined,
    record: StagedRecord,
  ): Promise<number> {
    if (this.ended) return Promise.reject(agentError("VMM_GUEST_ENDED", "the guest has ended"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.restoring.set(id, (error, atMs) =>
        error === "" ? resolve(atMs) : reject(agentError("VMM_RESTORE_FAILED", error)),
      );
      this.send({ t: "restore", id, snapshot, diskDirty, record });
    });
  }

  /**
   * Incoming migration, verified: lets the worker make the commit point as soon as it has
   * restored (at once if it has). Resolves with the host clock of the commit point; rejects when
   * the commit was refused first, or the state did not restore, or the record could not be put
   * in place: then nothing was committed.
   */
  commitIncoming(): Promise<number> {
    const settled = new Promise<number>((resolve, reject) => {
      this.commitSettled = (error, atMs) => {
        this.commitSettled = () => undefined;
        if (error === "") resolve(atMs);
        else reject(agentError("MIGRATION_TARGET_FAILED", error));
      };
    });
    if (!this.commitWord.allow()) {
      this.commitSettled(`the commit was ${this.commitWord.state} before it was allowed`, 0);
    } else {
      this.wakeWorker();
    }
    return settled;
  }

  /**
   * Incoming migration: no commit may follow. Returns "committed" when it came too late (the VM
   * is this node's); else nothing was or will be committed.
   */
  refuseCommit(): "refused" | "failed" | "committed" {
    const r = this.commitWord.refuse();
    if (r !== "committed") this.commitSettled(`the commit was ${r}`, 0);
    return r;
  }

  get incomingCommitted(): boolean {
    return this.commitWord.state === "committed";
  }

  /** The wall-clock ms of the guest's first instruction, once it ran. */
  async firstInstruction(): Promise<number> {
    await this.ready;
    return this.readyAtMs;
  }

  input(bytes: Uint8Array): void {
    if (!this.ended) this.send({ t: "input", bytes });
  }

  sendBreak(): void {
    if (!this.ended) this.send({ t: "break" });
  }

  async terminate(): Promise<void> {
    this.ended = true;
    await this.worker.terminate();
  }
}
