/**
 * Content checksums that both ends keep per page (and per disk block) as the data passes through:
 * the sender over the bytes it put on the wire, the receiver over the bytes it wrote. At commit
 * the two folds must match, which proves the destination holds exactly what the source last sent
 * for every page, without reading all of guest RAM while the guest is paused.
 */

/** FNV-1a over 32-bit words (as the guest's `counter` does), seeded apart from an all-zero page. */
export function blockSum(u8: Uint8Array, offset: number, length: number): number {
  // Aligned 32-bit reads: every block starts at a multiple of 4 in its buffer.
  const words = length >>> 2;
  const abs = u8.byteOffset + offset;
  if ((abs & 3) === 0) {
    const w = new Int32Array(u8.buffer, abs, words);
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < words; i++) h = Math.imul(h ^ w[i]!, 16777619);
    return h >>> 0;
  }
  const dv = new DataView(u8.buffer, abs, length);
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < words; i++) h = Math.imul(h ^ dv.getInt32(i * 4, true), 16777619);
  return h >>> 0;
}

const zeroSums = new Map<number, number>();

/** The sum of an all-zero block of `length` bytes (what a never-written page holds). */
export function zeroSum(length: number): number {
  let s = zeroSums.get(length);
  if (s === undefined) {
    s = blockSum(new Uint8Array(length), 0, length);
    zeroSums.set(length, s);
  }
  return s;
}

/** Folds per-block sums (in block order) into one checksum. */
export function foldSums(sums: Uint32Array): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < sums.length; i++) h = Math.imul(h ^ sums[i]!, 16777619);
  return h >>> 0;
}

/** True when the block is all zero bytes. */
export function isZeroBlock(u8: Uint8Array, offset: number, length: number): boolean {
  const abs = u8.byteOffset + offset;
  if ((abs & 3) !== 0 || (length & 31) !== 0) {
    for (let i = 0; i < length; i++) if (u8[offset + i] !== 0) return false;
    return true;
  }
  const w = new Int32Array(u8.buffer, abs, length >>> 2);
  for (let i = 0; i < w.length; i += 8) {
    if ((w[i]! | w[i + 1]! | w[i + 2]! | w[i + 3]! | w[i + 4]! | w[i + 5]! | w[i + 6]! | w[i + 7]!) !== 0)
      return false;
  }
  return true;
}

/**
 * Per-block sums and a non-zero bitmap for a region (guest RAM or a disk), kept in step with what
 * was sent or received.
 */
export class ContentLedger {
  readonly sums: Uint32Array;
  private readonly nonZero: Uint8Array;
  private nonZeroCount = 0;

  constructor(
    readonly blocks: number,
    readonly blockSize: number,
  ) {
    this.sums = new Uint32Array(blocks).fill(zeroSum(blockSize));
    this.nonZero = new Uint8Array(blocks);
  }

  setData(block: number, sum: number): void {
    this.sums[block] = sum;
    if (this.nonZero[block] === 0) {
      this.nonZero[block] = 1;
      this.nonZeroCount++;
    }
  }

  setZero(block: number): void {
    this.sums[block] = zeroSum(this.blockSize);
    if (this.nonZero[block] === 1) {
      this.nonZero[block] = 0;
      this.nonZeroCount--;
    }
  }

  get nonZeroBlocks(): number {
    return this.nonZeroCount;
  }

  checksum(): number {
    return foldSums(this.sums);
  }
}
