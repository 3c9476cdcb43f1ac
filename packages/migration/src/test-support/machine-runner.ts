/**
 * A real hv-core Machine run on this thread in small budgets (yielding to the event loop between
 * them, so a migration can copy its pages meanwhile), exposed as the sender's SourceVm.
 */
import { closeSync, openSync } from "node:fs";
import { DirtyBitmap, diskDirtyLogBytes, type Machine } from "@skiff/hv-core";
import type { SourceDisk, SourceVm } from "../source-vm.js";

const BUDGET = 100_000;

export class MachineRunner implements SourceVm {
  readonly ram: Uint8Array;
  readonly dirty: DirtyBitmap;
  readonly disk: SourceDisk | undefined;
  output = "";
  ended: string | undefined;
  private paused = false;
  private stopped = false;
  private throttle = 0;
  private wake: (() => void) | undefined;
  private loop: Promise<void>;
  /** Wall-clock ms of the first instruction this runner ran. */
  firstRunAtMs = 0;

  constructor(
    readonly machine: Machine,
    disk?: { path: string; bytes: number; dirtyLog: SharedArrayBuffer },
  ) {
    this.ram = machine.ram.u8;
    this.dirty = machine.ram.dirty;
    if (disk) {
      this.disk = {
        fd: openSync(disk.path, "r"),
        bytes: disk.bytes,
        dirty: new DirtyBitmap(Math.ceil(disk.bytes / 4096), disk.dirtyLog),
      };
    }
    machine.onConsoleOutput = (b) => {
      this.output += Buffer.from(b).toString("latin1");
    };
    this.loop = this.run();
  }

  static dirtyLogFor(bytes: number): SharedArrayBuffer {
    return new SharedArrayBuffer(diskDirtyLogBytes(bytes));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.paused) {
        await this.sleep(1000);
        continue;
      }
      if (this.firstRunAtMs === 0) this.firstRunAtMs = performance.timeOrigin + performance.now();
      const t0 = performance.now();
      const exit = this.machine.run(BUDGET);
      const dt = performance.now() - t0;
      if (exit.kind === "idle") {
        await this.sleep(Math.min(exit.wakeInMs, 50));
        continue;
      }
      if (exit.kind !== "budget") {
        this.ended = exit.kind;
        return;
      }
      const p = this.throttle;
      if (p > 0) await this.sleep((dt * p) / (100 - p));
      else await new Promise((r) => setImmediate(r));
    }
  }

  type(s: string): void {
    this.machine.consoleInput(Buffer.from(s));
    this.wake?.();
  }

  async waitFor(
    pattern: string | RegExp | ((text: string) => boolean),
    timeoutMs = 120_000,
    from = 0,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = () => {
      const text = this.output.slice(from);
      if (typeof pattern === "function") return pattern(text);
      return typeof pattern === "string" ? text.includes(pattern) : pattern.test(text);
    };
    while (!seen()) {
      if (this.ended) throw new Error(`guest ended (${this.ended}) waiting for ${pattern}`);
      if (Date.now() > deadline)
        throw new Error(`timeout waiting for ${pattern}; output:\n${this.output.slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async pause(): Promise<undefined> {
    this.paused = true;
    return undefined;
  }

  async resume(): Promise<void> {
    this.paused = false;
    this.wake?.();
  }

  async deviceState(): Promise<Uint8Array> {
    return this.machine.snapshot({ includeRam: false });
  }

  setThrottle(percent: number): void {
    this.throttle = percent;
  }

  get throttlePercent(): number {
    return this.throttle;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.disk) closeSync(this.disk.fd);
    this.machine.close();
  }
}
