import type { Ram } from "../../memory/ram.js";
import { stateBool, stateNumber } from "../../snapshot/fields.js";
import type { StateRecord } from "../../snapshot/state.js";

/** Split virtqueue layout (virtio 1.1 §2.6). */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
export const VIRTQ_DESC_SIZE = 16;

const TWO_32 = 2 ** 32;

/** One guest buffer of a descriptor chain (a guest-physical range already checked to lie in RAM). */
export interface BufferSegment {
  readonly addr: number;
  readonly len: number;
}

/**
 * A descriptor chain popped from the available ring: its device-readable buffers, then its
 * device-writable ones, each addressed as one contiguous byte stream (the device makes no
 * assumption about how the driver split a request into descriptors, virtio 1.1 §2.6.4).
 */
export class DescriptorChain {
  readonly readableLength: number;
  readonly writableLength: number;

  constructor(
    private readonly ram: Ram,
    readonly head: number,
    readonly readable: readonly BufferSegment[],
    readonly writable: readonly BufferSegment[],
  ) {
    this.readableLength = readable.reduce((n, s) => n + s.len, 0);
    this.writableLength = writable.reduce((n, s) => n + s.len, 0);
  }

  /** `len` bytes of the readable stream from `offset` (clipped to its end). */
  read(offset = 0, len = this.readableLength - offset): Uint8Array {
    const end = Math.min(offset + len, this.readableLength);
    const out = new Uint8Array(Math.max(0, end - offset));
    let pos = 0;
    let at = 0;
    for (const seg of this.readable) {
      if (pos >= out.length) break;
      const segEnd = at + seg.len;
      if (segEnd > offset) {
        const from = Math.max(offset, at) - at;
        const n = Math.min(seg.len - from, out.length - pos);
        const base = seg.addr - this.ram.base + from;
        out.set(this.ram.u8.subarray(base, base + n), pos);
        pos += n;
      }
      at = segEnd;
    }
    return out;
  }

  /**
   * Writes `data` into the writable stream at `offset` through the RAM's DMA path (so the pages
   * are marked dirty). Returns the bytes written (clipped to the stream's end).
   */
  write(offset: number, data: Uint8Array): number {
    let pos = 0;
    let at = 0;
    for (const seg of this.writable) {
      if (pos >= data.length) break;
      const segEnd = at + seg.len;
      if (segEnd > offset + pos) {
        const from = offset + pos - at;
        const n = Math.min(seg.len - from, data.length - pos);
        this.ram.write(seg.addr + from, data.subarray(pos, pos + n));
        pos += n;
      }
      at = segEnd;
    }
    return pos;
  }
}

/** One queue's registers and the device's cursors, saved inside its transport's state. */
export type QueueState = {
  size: number;
  ready: boolean;
  descLo: number;
  descHi: number;
  driverLo: number;
  driverHi: number;
  deviceLo: number;
  deviceHi: number;
  lastAvailIdx: number;
  usedIdx: number;
  faulted: boolean;
};

/**
 * The device side of one split virtqueue: the driver-programmed addresses, the device's cursors
 * (next available entry to read, next used entry to write) and the walker over descriptor chains.
 * Everything read from guest memory is checked; a driver bug or a hostile guest makes the queue
 * report a fault (the transport then sets DEVICE_NEEDS_RESET) and go quiet, never throw.
 */
export class SplitQueue {
  /** QueueNum as written by the driver. */
  size: number;
  ready = false;
  descLo = 0;
  descHi = 0;
  driverLo = 0;
  driverHi = 0;
  deviceLo = 0;
  deviceHi = 0;
  /** Free-running 16-bit cursors (virtio 1.1 §2.6.6, §2.6.8). */
  lastAvailIdx = 0;
  usedIdx = 0;
  /** Set on a guest error; the queue does nothing more until reset. */
  faulted = false;
  /** Whether the driver negotiated VIRTIO_F_INDIRECT_DESC (set by the transport). */
  indirect = false;

  private readonly view: DataView;
  private readonly scratch = new Uint8Array(8);
  private readonly scratchView = new DataView(this.scratch.buffer);

  constructor(
    private readonly ram: Ram,
    readonly index: number,
    readonly maxSize: number,
    /** A used buffer was returned and the driver wants to hear about it. */
    private readonly onUsed: () => void,
    /** The driver broke the queue's rules. */
    private readonly onFault: (queue: number, reason: string) => void,
  ) {
    this.size = maxSize;
    this.view = new DataView(ram.buffer);
  }

  get descAddr(): number {
    return this.descHi * TWO_32 + this.descLo;
  }
  get availAddr(): number {
    return this.driverHi * TWO_32 + this.driverLo;
  }
  get usedAddr(): number {
    return this.deviceHi * TWO_32 + this.deviceLo;
  }

  /** Back to the reset state (device reset or the driver disabling the queue). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descLo = this.descHi = 0;
    this.driverLo = this.driverHi = 0;
    this.deviceLo = this.deviceHi = 0;
    this.lastAvailIdx = 0;
    this.usedIdx = 0;
    this.faulted = false;
  }

  /**
   * The driver wrote QueueReady = 1: checks the size and the three areas (alignment, inside RAM)
   * once, so ring accesses later need no further checks. False (and a fault) when they're bad.
   */
  enable(): boolean {
    this.ready = true;
    const problem = this.layoutProblem();
    return problem === null ? true : this.fail(problem);
  }

  /** What is wrong with the programmed size and areas, or null when the queue is usable. */
  layoutProblem(): string | null {
    const n = this.size;
    if (n === 0 || n > this.maxSize || (n & (n - 1)) !== 0)
      return `queue size ${n} is not a power of 2 in 1..${this.maxSize}`;
    if (this.descAddr % 16 !== 0 || !this.ram.contains(this.descAddr, VIRTQ_DESC_SIZE * n))
      return "descriptor table misaligned or outside RAM";
    if (this.availAddr % 2 !== 0 || !this.ram.contains(this.availAddr, 6 + 2 * n))
      return "available ring misaligned or outside RAM";
    if (this.usedAddr % 4 !== 0 || !this.ram.contains(this.usedAddr, 6 + 8 * n))
      return "used ring misaligned or outside RAM";
    return null;
  }

  /** Reports a guest error in this queue (also for backends: a malformed request). Returns false. */
  fail(reason: string): false {
    if (!this.faulted) {
      this.faulted = true;
      this.onFault(this.index, reason);
    }
    return false;
  }

  private u16(paddr: number): number {
    return this.view.getUint16(paddr - this.ram.base, true);
  }

  /** Whether the driver has made buffers available that the device hasn't taken yet. */
  hasAvailable(): boolean {
    return this.ready && !this.faulted && this.u16(this.availAddr + 2) !== this.lastAvailIdx;
  }

  /** The next available descriptor chain, or null when there is none (or the queue faulted). */
  pop(): DescriptorChain | null {
    if (!this.ready || this.faulted) return null;
    const availIdx = this.u16(this.availAddr + 2);
    if (availIdx === this.lastAvailIdx) return null;
    if (((availIdx - this.lastAvailIdx) & 0xffff) > this.size) {
      this.fail(`available index jumped from ${this.lastAvailIdx} to ${availIdx}`);
      return null;
    }
    const head = this.u16(this.availAddr + 4 + 2 * (this.lastAvailIdx % this.size));
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff;
    return this.walk(head);
  }

  /** Follows a chain from `head` through the table and at most one indirect table (§2.6.5.3). */
  private walk(head: number): DescriptorChain | null {
    const readable: BufferSegment[] = [];
    const writable: BufferSegment[] = [];
    let table = this.descAddr;
    let tableSize = this.size;
    let index = head;
    let seen = 0;
    let inIndirect = false;
    for (;;) {
      if (index >= tableSize) {
        this.fail(`descriptor index ${index} outside a table of ${tableSize}`);
        return null;
      }
      // A chain can't be longer than its table: anything more is a loop.
      if (++seen > tableSize) {
        this.fail("descriptor chain loops");
        return null;
      }
      const d = table + VIRTQ_DESC_SIZE * index - this.ram.base;
      const addr = this.view.getUint32(d + 4, true) * TWO_32 + this.view.getUint32(d, true);
      const len = this.view.getUint32(d + 8, true);
      const flags = this.view.getUint16(d + 12, true);
      const next = this.view.getUint16(d + 14, true);
      if ((flags & VIRTQ_DESC_F_INDIRECT) !== 0) {
        if (!this.indirect || inIndirect || (flags & VIRTQ_DESC_F_NEXT) !== 0) {
          this.fail("indirect descriptor not allowed here");
          return null;
        }
        // No alignment is required of indirect tables (Linux's kmalloc gives 8 bytes on rv32).
        if (len === 0 || len % VIRTQ_DESC_SIZE !== 0 || !this.ram.contains(addr, len)) {
          this.fail("indirect table empty, of a partial descriptor, or outside RAM");
          return null;
        }
        // The WRITE flag of the descriptor naming the table is ignored (§2.6.5.3.2).
        table = addr;
        tableSize = len / VIRTQ_DESC_SIZE;
        index = 0;
        seen = 0;
        inIndirect = true;
        continue;
      }
      if (!this.ram.contains(addr, len)) {
        this.fail("buffer outside RAM");
        return null;
      }
      if ((flags & VIRTQ_DESC_F_WRITE) !== 0) {
        writable.push({ addr, len });
      } else {
        if (writable.length > 0) {
          this.fail("device-readable buffer after a device-writable one");
          return null;
        }
        readable.push({ addr, len });
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      index = next;
    }
    return new DescriptorChain(this.ram, head, readable, writable);
  }

  /**
   * Returns a chain to the driver: writes the used element (id, len), then publishes the new used
   * index (len before idx, §2.6.8.1), and interrupts unless the driver suppressed it.
   */
  pushUsed(head: number, written: number): void {
    if (!this.ready || this.faulted) return;
    const slot = this.usedAddr + 4 + 8 * (this.usedIdx % this.size);
    this.scratchView.setUint32(0, head, true);
    this.scratchView.setUint32(4, written >>> 0, true);
    this.ram.write(slot, this.scratch);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    this.scratchView.setUint16(0, this.usedIdx, true);
    this.ram.write(this.usedAddr + 2, this.scratch.subarray(0, 2));
    if ((this.u16(this.availAddr) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0) this.onUsed();
  }

  save(): QueueState {
    return {
      size: this.size,
      ready: this.ready,
      descLo: this.descLo,
      descHi: this.descHi,
      driverLo: this.driverLo,
      driverHi: this.driverHi,
      deviceLo: this.deviceLo,
      deviceHi: this.deviceHi,
      lastAvailIdx: this.lastAvailIdx,
      usedIdx: this.usedIdx,
      faulted: this.faulted,
    };
  }

  restore(s: StateRecord, device: string): void {
    this.size = stateNumber(s, device, "size");
    this.ready = stateBool(s, device, "ready");
    this.descLo = stateNumber(s, device, "descLo") >>> 0;
    this.descHi = stateNumber(s, device, "descHi") >>> 0;
    this.driverLo = stateNumber(s, device, "driverLo") >>> 0;
    this.driverHi = stateNumber(s, device, "driverHi") >>> 0;
    this.deviceLo = stateNumber(s, device, "deviceLo") >>> 0;
    this.deviceHi = stateNumber(s, device, "deviceHi") >>> 0;
    this.lastAvailIdx = stateNumber(s, device, "lastAvailIdx") & 0xffff;
    this.usedIdx = stateNumber(s, device, "usedIdx") & 0xffff;
    this.faulted = stateBool(s, device, "faulted");
    // Re-check what a saved ready queue points at: the snapshot may come from elsewhere.
    if (this.ready && !this.faulted) {
      const problem = this.layoutProblem();
      if (problem !== null) this.fail(problem);
    }
  }
}
