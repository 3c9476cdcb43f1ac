/**
 * The main thread's handle on the VMM's NIC thread (nic-worker.ts), which links the guest's NIC to
 * the node switch and trades frames with the vCPU worker itself. What stays here is control: a
 * migration's hold and resume, and closing.
 */
import { type MessagePort, Worker } from "node:worker_threads";
import type { Logger } from "@skiff/common";

export interface NicWorkerData {
  /** The port link's socket (vms/<id>/nic0.sock). */
  readonly path: string;
  /** The vCPU's wake word (vcpu-messages.ts WAKE), bumped after every frame message. */
  readonly wake: SharedArrayBuffer;
  readonly logName: string;
  readonly logLevel: string;
  /** How long a hold waits for the switch's answer (NicLink's HOLD_WAIT_MS unless a test says). */
  readonly holdWaitMs: number | undefined;
}

/** Main thread → NIC thread. */
export type ToNicThread = { t: "hold"; id: number } | { t: "resume" } | { t: "close" };
/** NIC thread → main thread. */
export type FromNicThread = { t: "held"; id: number } | { t: "closed" };

/** How long close() waits for the link to close before it ends the thread anyway. */
const CLOSE_WAIT_MS = 1000;

export class NicThread {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly holds = new Map<number, () => void>();
  private closedWaiter: (() => void) | undefined;
  private gone = false;

  constructor(
    path: string,
    /** The vCPU worker's NIC port is the other end of this one. */
    guest: MessagePort,
    wake: SharedArrayBuffer,
    log: Logger,
    /** For tests: where nic-worker.js is (they run it from the build), how long a hold waits. */
    opts: { workerUrl?: URL; holdWaitMs?: number } = {},
  ) {
    const data: NicWorkerData & { guest: MessagePort } = {
      path,
      wake,
      guest,
      logName: `${(log.bindings().name as string | undefined) ?? "vmm"}:nic`,
      logLevel: log.level,
      holdWaitMs: opts.holdWaitMs,
    };
    this.worker = new Worker(opts.workerUrl ?? new URL("./nic-worker.js", import.meta.url), {
      workerData: data,
      transferList: [guest],
      resourceLimits: { maxOldGenerationSizeMb: 64 },
    });
    this.worker.on("message", (msg: FromNicThread) => {
      if (msg.t === "held") {
        this.holds.get(msg.id)?.();
        this.holds.delete(msg.id);
      } else {
        this.closedWaiter?.();
      }
    });
    // Without this thread the guest's network is down (as with its cable out); the guest runs on.
    this.worker.on("error", (err) => log.error({ err }, "NIC thread failed; the guest's network is down"));
    this.worker.on("exit", () => {
      this.gone = true;
      for (const done of this.holds.values()) done();
      this.holds.clear();
      this.closedWaiter?.();
    });
  }

  private post(msg: ToNicThread): void {
    if (!this.gone) this.worker.postMessage(msg);
  }

  /**
   * Before the guest pauses for a migration's last copy: resolves once the switch keeps the
   * guest's frames and every frame it sent before is posted to the vCPU (or the link gave up
   * waiting, see NicLink.hold).
   */
  hold(): Promise<void> {
    if (this.gone) return Promise.resolve();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.holds.set(id, resolve);
      this.post({ t: "hold", id });
    });
  }

  /** The guest runs on here (the migration rolled back): the switch delivers what it kept. */
  resume(): void {
    this.post({ t: "resume" });
  }

  async close(): Promise<void> {
    if (!this.gone) {
      await new Promise<void>((resolve) => {
        this.closedWaiter = resolve;
        this.post({ t: "close" });
        setTimeout(resolve, CLOSE_WAIT_MS).unref();
      });
    }
    await this.worker.terminate();
  }
}
