/**
 * Guest RAM: one SharedArrayBuffer so the VMM's main thread (migration sender, snapshots) can read
 * pages while the vCPU runs in its worker, plus a dirty bitmap (1 bit per 4 KiB page) set by every
 * CPU store and every device DMA write, and fetched-and-cleared atomically by readers.
 */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const RAM_BASE = 0x8000_0000;

export class DirtyBitmap {
  /** One bit per page; word i covers pages [32i, 32i+31]. Shared between threads. */
  readonly words: Int32Array;
  readonly pages: number;
  /**
   * Pages holding translated code (vCPU thread only, never shared or saved): a write to one calls
   * `onCodeWrite`, so the block translator drops what it translated from that page.
   */
  readonly code: Uint8Array;
  onCodeWrite: (page: number) => void = () => {};

  constructor(pages: number, buffer?: SharedArrayBuffer) {
    this.pages = pages;
    this.code = new Uint8Array(pages);
    const nwords = Math.ceil(pages / 32);
    this.words = new Int32Array(buffer ?? new SharedArrayBuffer(nwords * 4), 0, nwords);
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  /**
   * Marks a page dirty. Only the vCPU thread sets bits, so a plain read-modify-write can at worst
   * re-set a bit a reader just cleared (an extra copy), never lose one.
   */
  mark(page: number): void {
    this.words[page >>> 5] |= 1 << (page & 31);
    if (this.code[page] !== 0) this.onCodeWrite(page);
  }

  markRange(offset: number, length: number): void {
    if (length <= 0) return;
    const last = (offset + length - 1) >>> PAGE_SHIFT;
    for (let p = offset >>> PAGE_SHIFT; p <= last; p++) this.mark(p);
  }

  markAll(): void {
    for (let p = 0; p < this.pages; p++) this.mark(p);
  }

  isDirty(page: number): boolean {
    return (Atomics.load(this.words, page >>> 5) & (1 << (page & 31))) !== 0;
  }

  /** Atomically takes the dirty set and clears it: returns the dirty page indices, ascending. */
  fetchAndClear(): Uint32Array {
    const out: number[] = [];
    for (let w = 0; w < this.words.length; w++) {
      if (Atomics.load(this.words, w) === 0) continue;
      let bits = Atomics.exchange(this.words, w, 0);
      while (bits !== 0) {
        const low = bits & -bits;
        const bit = 31 - Math.clz32(low);
        out.push(w * 32 + bit);
        bits ^= low;
      }
    }
    return Uint32Array.from(out);
  }

  /** Number of dirty pages (without clearing). */
  count(): number {
    let n = 0;
    for (let w = 0; w < this.words.length; w++) {
      let v = Atomics.load(this.words, w);
      while (v !== 0) {
        v &= v - 1;
        n++;
      }
    }
    return n;
  }
}

export class Ram {
  readonly base: number;
  readonly size: number;
  readonly buffer: SharedArrayBuffer;
  readonly u8: Uint8Array;
  /** Little-endian host assumed (x86-64, arm64): aligned 16/32-bit views alias the bytes. */
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly dirty: DirtyBitmap;

  constructor(
    size: number,
    opts: { base?: number; buffer?: SharedArrayBuffer; dirtyBuffer?: SharedArrayBuffer } = {},
  ) {
    if (size <= 0 || size % PAGE_SIZE !== 0)
      throw new RangeError(`RAM size must be a positive multiple of 4 KiB, got ${size}`);
    this.base = opts.base ?? RAM_BASE;
    this.size = size;
    this.buffer = opts.buffer ?? new SharedArrayBuffer(size);
    if (this.buffer.byteLength !== size) throw new RangeError("RAM buffer size mismatch");
    this.u8 = new Uint8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.dirty = new DirtyBitmap(size >>> PAGE_SHIFT, opts.dirtyBuffer);
  }

  get pages(): number {
    return this.size >>> PAGE_SHIFT;
  }

  /** True when [paddr, paddr+len) lies inside RAM. */
  contains(paddr: number, len = 1): boolean {
    const off = paddr - this.base;
    return off >= 0 && len >= 0 && off + len <= this.size;
  }

  /** DMA read by a device: a copy of guest memory. Throws RangeError outside RAM. */
  read(paddr: number, len: number): Uint8Array {
    if (!this.contains(paddr, len))
      throw new RangeError(`DMA read outside RAM: 0x${(paddr >>> 0).toString(16)}+${len}`);
    const off = paddr - this.base;
    return this.u8.slice(off, off + len);
  }

  /** DMA write by a device: copies into guest memory and marks the pages dirty. */
  write(paddr: number, data: Uint8Array): void {
    if (!this.contains(paddr, data.length)) {
      throw new RangeError(`DMA write outside RAM: 0x${(paddr >>> 0).toString(16)}+${data.length}`);
    }
    const off = paddr - this.base;
    this.u8.set(data, off);
    this.dirty.markRange(off, data.length);
  }

  readU32(paddr: number): number {
    const off = paddr - this.base;
    if (!this.contains(paddr, 4)) throw new RangeError(`read outside RAM: 0x${(paddr >>> 0).toString(16)}`);
    return (
      (this.u8[off]! | (this.u8[off + 1]! << 8) | (this.u8[off + 2]! << 16) | (this.u8[off + 3]! << 24)) >>> 0
    );
  }

  writeU32(paddr: number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.write(paddr, b);
  }

  /** A page's bytes (a view, not a copy). */
  page(index: number): Uint8Array {
    return this.u8.subarray(index << PAGE_SHIFT, (index + 1) << PAGE_SHIFT);
  }

  isZeroPage(index: number): boolean {
    const start = (index << PAGE_SHIFT) >>> 2;
    const end = start + (PAGE_SIZE >>> 2);
    const w = this.i32;
    for (let i = start; i < end; i++) if (w[i] !== 0) return false;
    return true;
  }
}
