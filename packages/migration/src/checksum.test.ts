import { describe, expect, it } from "vitest";
import { blockSum, ContentLedger, isZeroBlock, isZeroRange, zeroSum } from "./checksum.js";

describe("checksums", () => {
  it("gives the same sum for the same bytes at any alignment", () => {
    const page = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 0xff);
    const want = blockSum(page, 0, 4096);
    for (let shift = 1; shift < 8; shift++) {
      const buf = new Uint8Array(4096 + 8);
      buf.set(page, shift);
      expect(blockSum(buf, shift, 4096)).toBe(want);
      expect(blockSum(buf.subarray(shift), 0, 4096)).toBe(want);
    }
  });

  it("notices a changed, moved or swapped word", () => {
    const page = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
    const want = blockSum(page, 0, 4096);
    const changed = page.slice();
    changed[1000] ^= 1;
    expect(blockSum(changed, 0, 4096)).not.toBe(want);
    const swapped = page.slice();
    const w = new Uint32Array(swapped.buffer);
    [w[10], w[500]] = [w[500]!, w[10]!];
    expect(blockSum(swapped, 0, 4096)).not.toBe(want);
    expect(blockSum(new Uint8Array(4096), 0, 4096)).toBe(zeroSum(4096));
  });

  it("finds zero pages and zero ranges", () => {
    const buf = new Uint8Array(new SharedArrayBuffer(1 << 20));
    expect(isZeroRange(buf, 0, 1 << 20)).toBe(true);
    expect(isZeroBlock(buf, 4096, 4096)).toBe(true);
    buf[4096 + 4095] = 1;
    expect(isZeroRange(buf, 0, 1 << 20)).toBe(false);
    expect(isZeroBlock(buf, 4096, 4096)).toBe(false);
    expect(isZeroBlock(buf, 0, 4096)).toBe(true);
  });

  it("folds a ledger that tracks sums and non-zero counts", () => {
    const a = new ContentLedger(8, 4096);
    const b = new ContentLedger(8, 4096);
    expect(a.checksum()).toBe(b.checksum());
    a.setData(3, 42);
    expect(a.nonZeroBlocks).toBe(1);
    expect(a.checksum()).not.toBe(b.checksum());
    b.setData(3, 42);
    expect(a.checksum()).toBe(b.checksum());
    a.setZero(3);
    expect(a.nonZeroBlocks).toBe(0);
  });
});
