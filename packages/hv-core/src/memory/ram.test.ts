import { describe, expect, it } from "vitest";
import { DirtyBitmap, PAGE_SIZE, RAM_BASE, Ram } from "./ram.js";

describe("DirtyBitmap", () => {
  it("marks and fetch-and-clears pages in order", () => {
    const d = new DirtyBitmap(100);
    d.mark(3);
    d.mark(31);
    d.mark(32);
    d.mark(99);
    d.mark(3);
    expect(d.count()).toBe(4);
    expect(Array.from(d.fetchAndClear())).toEqual([3, 31, 32, 99]);
    expect(d.count()).toBe(0);
    expect(d.fetchAndClear().length).toBe(0);
  });

  it("marks byte ranges across page boundaries", () => {
    const d = new DirtyBitmap(8);
    d.markRange(PAGE_SIZE - 1, 2);
    expect(Array.from(d.fetchAndClear())).toEqual([0, 1]);
  });
});

describe("Ram", () => {
  it("DMA writes land in memory and mark pages dirty", () => {
    const ram = new Ram(64 * 1024);
    ram.write(RAM_BASE + 0x2ffe, Uint8Array.of(1, 2, 3, 4));
    expect(Array.from(ram.read(RAM_BASE + 0x2ffe, 4))).toEqual([1, 2, 3, 4]);
    expect(Array.from(ram.dirty.fetchAndClear())).toEqual([2, 3]);
    expect(ram.isZeroPage(0)).toBe(true);
    expect(ram.isZeroPage(2)).toBe(false);
    ram.writeU32(RAM_BASE + 16, 0xdeadbeef);
    expect(ram.readU32(RAM_BASE + 16)).toBe(0xdeadbeef);
  });

  it("refuses DMA outside RAM", () => {
    const ram = new Ram(PAGE_SIZE);
    expect(() => ram.write(RAM_BASE + PAGE_SIZE - 1, Uint8Array.of(1, 2))).toThrow(RangeError);
    expect(() => ram.read(0x1000, 4)).toThrow(RangeError);
  });

  it("shares its memory across views of the same buffer", () => {
    const a = new Ram(PAGE_SIZE);
    const b = new Ram(PAGE_SIZE, { buffer: a.buffer, dirtyBuffer: a.dirty.buffer });
    a.write(RAM_BASE, Uint8Array.of(7));
    expect(b.u8[0]).toBe(7);
    expect(Array.from(b.dirty.fetchAndClear())).toEqual([0]);
  });
});
