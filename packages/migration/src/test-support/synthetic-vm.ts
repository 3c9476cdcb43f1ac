/**
 * A VM without a CPU for protocol tests: RAM and disk that a timer scribbles on (marking the dirty
 * bitmaps as the real vCPU and virtio-blk do), with pause, resume and throttle.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import { DirtyBitmap } from "@skiff/hv-core";
import type { SourceVm } from "../source-vm.js";

export class SyntheticVm implements SourceVm {
  readonly ram: Uint8Array;
  readonly dirty: DirtyBitmap;
  readonly disk:
    | { fd: number; bytes: number; dirty: DirtyBitmap; storageId?: string; flush?(): void }
    | undefined;
  flushes = 0;
  paused = false;
  throttle = 0;
  pauses = 0;
  resumes = 0;
  private timer: NodeJS.Timeout | undefined;
  private gen = 1;

  constructor(
    memoryBytes: number,
    opts: {
      diskPath?: string;
      diskBytes?: number;
      fill?: number;
      writesPerTick?: number;
      /** The disk is on this shared storage (the destination may keep it in place). */
      storageId?: string;
    } = {},
  ) {
    this.ram = new Uint8Array(new SharedArrayBuffer(memoryBytes));
    this.dirty = new DirtyBitmap(memoryBytes / 4096);
    // Some pages hold data, most stay zero (as in a freshly booted guest).
    const fill = opts.fill ?? 0.25;
    for (let p = 0; p < memoryBytes / 4096; p++) {
      if ((p * 2654435761) % 1000 < fill * 1000) this.ram.fill((p & 0xff) | 1, p * 4096, p * 4096 + 64);
    }
    if (opts.diskPath && opts.diskBytes) {
      const fd = openSync(opts.diskPath, "r+");
      this.disk = {
        fd,
        bytes: opts.diskBytes,
        dirty: new DirtyBitmap(Math.ceil(opts.diskBytes / 4096)),
        ...(opts.storageId !== undefined
          ? {
              storageId: opts.storageId,
              flush: () => {
                this.flushes++;
                fdatasyncSync(fd);
              },
            }
          : {}),
      };
    }
    const writes = opts.writesPerTick ?? 0;
    if (writes > 0) {
      this.timer = setInterval(() => {
        if (this.paused) return;
        const n = Math.ceil(writes * (1 - this.throttle / 100));
        for (let i = 0; i < n; i++) this.scribble();
      }, 2);
    }
  }

  /** One guest write: a RAM word and, now and then, a disk block. */
  scribble(): void {
    const g = this.gen++;
    const page = (g * 7919) % (this.ram.length / 4096);
    new DataView(this.ram.buffer).setUint32(page * 4096 + ((g * 4) % 4096), g, true);
    this.dirty.mark(page);
    if (this.disk && g % 16 === 0) {
      const block = (g * 104729) % Math.floor(this.disk.bytes / 4096);
      writeSync(this.disk.fd, Buffer.from(`gen ${g}`), 0, undefined, block * 4096 + 100);
      this.disk.dirty.mark(block);
    }
  }

  async pause(): Promise<undefined> {
    this.paused = true;
    this.pauses++;
    return undefined;
  }

  async resume(): Promise<void> {
    this.paused = false;
    this.resumes++;
  }

  async deviceState(): Promise<Uint8Array> {
    return Buffer.from(`state at gen ${this.gen}`);
  }

  setThrottle(percent: number): void {
    this.throttle = percent;
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.disk) closeSync(this.disk.fd);
  }
}
