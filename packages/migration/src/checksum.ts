/**
 * Content checksums that both ends keep per page (and per disk block) as the data passes through:
 * the sender over the bytes it put on the wire, the receiver over the bytes it wrote. At commit
 * the two folds must match, which proves the destination holds exactly what the source last sent
 * for every page, without reading all of guest RAM while the guest is paused.
 */

/**
 * A Fletcher-style sum over 32-bit words in four lanes (order-sensitive through the running sum
 * `b`). Not cryptographic: it guards against lost, misplaced or mangled pages, and runs at memory
 * speed in JS, which matters because both ends sum every page they move.
 */
export function blockSum(u8: Uint8Array, offset: number, length: number): number {
  const abs = u8.byteOffset + offset;
  if ((abs & 3) === 0) return sumWords(new Int32Array(u8.buffer, abs, length >>> 2));
  // Unaligned (a view into a received message): sum an aligned copy, the same function.
  if (scratch.length < length) scratch = new Uint8Array(length);
  scratch.set(u8.subarray(offset, offset + length));
  return sumWords(new Int32Array(scratch.buffer, 0, length >>> 2));
}

let scratch = new Uint8Array(4096);

function sumWords(w: Int32Array): number {
  let a0 = 1;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let b = 0;
  const n = w.length & ~3;
  for (let i = 0; i < n; i += 4) {
    a0 = (a0 + w[i]!) | 0;
    a1 = (a1 + w[i + 1]!) | 0;
    a2 = (a2 + w[i + 2]!) | 0;
    a3 = (a3 + w[i + 3]!) | 0;
    b = (b + a0 + a1 + a2 + a3) | 0;
  }
  for (let i = n; i < w.length; i++) {
    a0 = (a0 + w[i]!) | 0;
    b = (b + a0) | 0;
  }
  return (Math.imul(b, 0x9e3779b1) ^ Math.imul(a0 ^ (a1 << 1), 0x85ebca6b) ^ a2 ^ (a3 << 3)) >>> 0;
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

const ZERO = Buffer.alloc(1 << 20);

/** True when [offset, offset + length) is all zero; native compare, for long ranges (≤ 1 MiB). */
export function isZeroRange(u8: Uint8Array, offset: number, length: number): boolean {
  return Buffer.compare(u8.subarray(offset, offset + length), ZERO.subarray(0, length)) === 0;
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
