import { VirtioMmioReg as R, type VirtioMmio, VirtioStatus } from "../devices/virtio/mmio.js";
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from "../devices/virtio/queue.js";
import type { Ram } from "../memory/ram.js";

/** A buffer of a request as a driver describes it: bytes the device reads, or room it writes. */
export type TestBuffer = { out: Uint8Array } | { in: number };

export interface QueueLayout {
  size: number;
  desc: number;
  avail: number;
  used: number;
}

/**
 * The guest side of virtio-mmio for device tests, following the steps Linux's virtio_mmio and
 * virtio_ring take: probe, negotiate, lay out split rings in guest RAM, post descriptor chains,
 * notify, read the used ring. Buffers come from a bump allocator in RAM.
 */
export class TestVirtioDriver {
  readonly queues: QueueLayout[] = [];
  private availIdx: number[] = [];
  private nextDesc: number[] = [];
  private usedSeen: number[] = [];
  private heap: number;

  constructor(
    readonly ram: Ram,
    readonly dev: VirtioMmio,
    heapStart = ram.base + 0x10000,
  ) {
    this.heap = heapStart;
  }

  /** Takes over another driver's rings and cursors (the same guest, restored into a new machine). */
  continueFrom(other: TestVirtioDriver): void {
    this.queues.splice(0, this.queues.length, ...other.queues);
    this.availIdx = [...other.availIdx];
    this.nextDesc = [...other.nextDesc];
    this.usedSeen = [...other.usedSeen];
    this.heap = other.heap;
  }

  r(offset: number): number {
    return this.dev.read(offset, 4) >>> 0;
  }

  w(offset: number, value: number): void {
    this.dev.write(offset, 4, value);
  }

  alloc(bytes: number, align = 16): number {
    this.heap = Math.ceil(this.heap / align) * align;
    const at = this.heap;
    this.heap += bytes;
    return at;
  }

  /** Device features as a 64-bit set of bit numbers. */
  deviceFeatures(): number[] {
    const bits: number[] = [];
    for (let sel = 0; sel < 2; sel++) {
      this.w(R.DEVICE_FEATURES_SEL, sel);
      const word = this.r(R.DEVICE_FEATURES);
      for (let b = 0; b < 32; b++) if (word & (1 << b)) bits.push(sel * 32 + b);
    }
    return bits;
  }

  /** Probe and negotiate `accept` (default: everything offered); returns the final status. */
  init(accept?: number[], queueSizes?: number[]): number {
    this.w(R.STATUS, 0);
    this.w(R.STATUS, VirtioStatus.ACKNOWLEDGE);
    this.w(R.STATUS, VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER);
    const bits = accept ?? this.deviceFeatures();
    for (let sel = 0; sel < 2; sel++) {
      let word = 0;
      for (const b of bits) if (b >>> 5 === sel) word |= 1 << (b & 31);
      this.w(R.DRIVER_FEATURES_SEL, sel);
      this.w(R.DRIVER_FEATURES, word >>> 0);
    }
    const base = VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER;
    this.w(R.STATUS, base | VirtioStatus.FEATURES_OK);
    if ((this.r(R.STATUS) & VirtioStatus.FEATURES_OK) === 0) return this.r(R.STATUS);
    for (let q = 0; ; q++) {
      this.w(R.QUEUE_SEL, q);
      const max = this.r(R.QUEUE_NUM_MAX);
      if (max === 0) break;
      this.setupQueue(q, Math.min(max, queueSizes?.[q] ?? max));
    }
    this.w(R.STATUS, base | VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK);
    return this.r(R.STATUS);
  }

  setupQueue(q: number, size: number, layout?: Partial<QueueLayout>): void {
    const desc = layout?.desc ?? this.alloc(16 * size, 16);
    const avail = layout?.avail ?? this.alloc(6 + 2 * size, 2);
    const used = layout?.used ?? this.alloc(6 + 8 * size, 4);
    this.queues[q] = { size, desc, avail, used };
    this.availIdx[q] = 0;
    this.nextDesc[q] = 0;
    this.usedSeen[q] = 0;
    this.w(R.QUEUE_SEL, q);
    this.w(R.QUEUE_NUM, size);
    this.w(R.QUEUE_DESC_LOW, desc);
    this.w(R.QUEUE_DESC_HIGH, 0);
    this.w(R.QUEUE_DRIVER_LOW, avail);
    this.w(R.QUEUE_DRIVER_HIGH, 0);
    this.w(R.QUEUE_DEVICE_LOW, used);
    this.w(R.QUEUE_DEVICE_HIGH, 0);
    this.w(R.QUEUE_READY, 1);
  }

  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const v = new DataView(this.ram.buffer);
    const o = table + 16 * i - this.ram.base;
    v.setUint32(o, addr >>> 0, true);
    v.setUint32(o + 4, Math.floor(addr / 2 ** 32), true);
    v.setUint32(o + 8, len, true);
    v.setUint16(o + 12, flags, true);
    v.setUint16(o + 14, next, true);
  }

  /**
   * Places `buffers` as a chain (in the ring, or in one indirect table) and publishes its head in
   * the available ring; returns the head and the guest address of each buffer.
   */
  post(
    q: number,
    buffers: TestBuffer[],
    opts: { indirect?: boolean } = {},
  ): { head: number; addrs: number[] } {
    const ql = this.queues[q]!;
    const addrs = buffers.map((b) => {
      if ("out" in b) {
        const at = this.alloc(b.out.length, 8);
        this.ram.u8.set(b.out, at - this.ram.base);
        return at;
      }
      return this.alloc(b.in, 8);
    });
    const lens = buffers.map((b) => ("out" in b ? b.out.length : b.in));
    const flagsOf = (i: number) =>
      ("in" in buffers[i]! ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < buffers.length ? VIRTQ_DESC_F_NEXT : 0);
    let head: number;
    if (opts.indirect) {
      const table = this.alloc(16 * buffers.length, 16);
      for (let i = 0; i < buffers.length; i++)
        this.writeDesc(table, i, addrs[i]!, lens[i]!, flagsOf(i), i + 1);
      head = this.takeDesc(q);
      this.writeDesc(ql.desc, head, table, 16 * buffers.length, VIRTQ_DESC_F_INDIRECT, 0);
    } else {
      const ids = buffers.map(() => this.takeDesc(q));
      for (let i = 0; i < buffers.length; i++)
        this.writeDesc(ql.desc, ids[i]!, addrs[i]!, lens[i]!, flagsOf(i), ids[i + 1] ?? 0);
      head = ids[0]!;
    }
    this.publish(q, head);
    return { head, addrs };
  }

  takeDesc(q: number): number {
    const i = this.nextDesc[q]!;
    this.nextDesc[q] = (i + 1) % this.queues[q]!.size;
    return i;
  }

  /** Puts `head` in the next available slot and bumps avail.idx (no notify). */
  publish(q: number, head: number): void {
    const ql = this.queues[q]!;
    const v = new DataView(this.ram.buffer);
    const idx = this.availIdx[q]!;
    v.setUint16(ql.avail + 4 + 2 * (idx % ql.size) - this.ram.base, head, true);
    this.availIdx[q] = (idx + 1) & 0xffff;
    v.setUint16(ql.avail + 2 - this.ram.base, this.availIdx[q]!, true);
  }

  notify(q: number): void {
    this.w(R.QUEUE_NOTIFY, q);
  }

  usedIdx(q: number): number {
    return new DataView(this.ram.buffer).getUint16(this.queues[q]!.used + 2 - this.ram.base, true);
  }

  /** Used elements the device returned since the last call: [id, len] pairs. */
  takeUsed(q: number): [number, number][] {
    const ql = this.queues[q]!;
    const v = new DataView(this.ram.buffer);
    const out: [number, number][] = [];
    const idx = this.usedIdx(q);
    while (this.usedSeen[q] !== idx) {
      const slot = ql.used + 4 + 8 * (this.usedSeen[q]! % ql.size) - this.ram.base;
      out.push([v.getUint32(slot, true), v.getUint32(slot + 4, true)]);
      this.usedSeen[q] = (this.usedSeen[q]! + 1) & 0xffff;
    }
    return out;
  }

  /** Handles an interrupt like vm_interrupt: read InterruptStatus, acknowledge it. */
  ack(): number {
    const s = this.r(R.INTERRUPT_STATUS);
    this.w(R.INTERRUPT_ACK, s);
    return s;
  }

  bytes(addr: number, len: number): Uint8Array {
    return this.ram.u8.slice(addr - this.ram.base, addr - this.ram.base + len);
  }
}
