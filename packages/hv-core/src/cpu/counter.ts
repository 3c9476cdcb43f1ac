import type { StateRecord } from "../snapshot/state.js";

const TWO32 = 0x1_0000_0000;

/**
 * A 64-bit counter CSR pair (mcycle/minstret) that advances with the retired-instruction count.
 * Kept as a written base (two 32-bit halves) plus the count since the write, so values near 2^64
 * stay exact without BigInt. A CSR write replaces the increment of the writing instruction
 * (Unprivileged spec §2.8/§10.1): `now` is the retired count before that instruction.
 */
export class Counter64 {
  private baseLo = 0;
  private baseHi = 0;
  private at = 0;

  lo(now: number): number {
    return ((this.baseLo + (now - this.at)) % TWO32) | 0;
  }

  hi(now: number): number {
    return ((this.baseHi + Math.floor((this.baseLo + (now - this.at)) / TWO32)) % TWO32) | 0;
  }

  writeLo(now: number, value: number): void {
    const hi = this.hi(now);
    this.set(value >>> 0, hi >>> 0, now + 1);
  }

  writeHi(now: number, value: number): void {
    const lo = this.lo(now);
    this.set(lo >>> 0, value >>> 0, now + 1);
  }

  private set(lo: number, hi: number, at: number): void {
    this.baseLo = lo;
    this.baseHi = hi;
    this.at = at;
  }

  save(): StateRecord {
    return { baseLo: this.baseLo, baseHi: this.baseHi, at: this.at };
  }

  restore(s: StateRecord): void {
    this.set(Number(s.baseLo) >>> 0, Number(s.baseHi) >>> 0, Number(s.at) || 0);
  }
}
