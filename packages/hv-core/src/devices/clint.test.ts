import { describe, expect, it } from "vitest";
import { InstructionClock } from "../clock.js";
import { IRQ } from "../irq.js";
import { TestHart } from "../test-support/test-hart.js";
import { CLINT_MSIP, CLINT_MTIME, CLINT_MTIMECMP, Clint } from "./clint.js";

function setup(start = 0) {
  let retired = start;
  const clock = new InstructionClock(() => retired);
  const hart = new TestHart();
  const clint = new Clint(clock, hart);
  return { clint, hart, clock, advance: (n: number) => (retired += n) };
}

describe("Clint", () => {
  it("resets with the timer disarmed", () => {
    const { clint, hart } = setup(1e12);
    expect(clint.read(CLINT_MTIMECMP, 4)).toBe(0xffffffff);
    expect(clint.read(CLINT_MTIMECMP + 4, 4)).toBe(0xffffffff);
    expect(clint.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    clint.update();
    expect(hart.pending(IRQ.MTI)).toBe(false);
  });

  it("reads mtime from the clock as two 32-bit halves and ignores writes", () => {
    const { clint, advance } = setup(0x1_2345_6789);
    expect(clint.read(CLINT_MTIME, 4)).toBe(0x2345_6789);
    expect(clint.read(CLINT_MTIME + 4, 4)).toBe(1);
    clint.write(CLINT_MTIME, 4, 0);
    clint.write(CLINT_MTIME + 4, 4, 0);
    advance(1);
    expect(clint.read(CLINT_MTIME, 4)).toBe(0x2345_678a);
    expect(clint.read(CLINT_MTIME + 4, 4)).toBe(1);
    expect(clint.read(CLINT_MTIME + 1, 1)).toBe(0x67);
  });

  it("raises MTIP when mtime reaches mtimecmp and drops it when mtimecmp moves on", () => {
    const { clint, hart, advance } = setup(100);
    // The driver's RV32 sequence: hi = all ones first so no spurious match, then lo, then hi.
    clint.write(CLINT_MTIMECMP + 4, 4, 0xffffffff);
    clint.write(CLINT_MTIMECMP, 4, 150);
    clint.write(CLINT_MTIMECMP + 4, 4, 0);
    expect(clint.nextDeadline()).toBe(150);
    clint.update();
    expect(hart.pending(IRQ.MTI)).toBe(false);
    advance(49);
    clint.update();
    expect(hart.pending(IRQ.MTI)).toBe(false);
    advance(1);
    clint.update();
    expect(hart.pending(IRQ.MTI)).toBe(true);
    const drives = hart.drives.get(IRQ.MTI);
    clint.update();
    clint.update();
    expect(hart.drives.get(IRQ.MTI)).toBe(drives); // unchanged level is not re-driven
    clint.write(CLINT_MTIMECMP, 4, 1000);
    expect(hart.pending(IRQ.MTI)).toBe(false);
  });

  it("handles 64-bit deadlines above 2^32 and sub-word writes", () => {
    const { clint } = setup(0);
    clint.write(CLINT_MTIMECMP, 4, 0);
    clint.write(CLINT_MTIMECMP + 4, 4, 2);
    expect(clint.nextDeadline()).toBe(2 * 2 ** 32);
    clint.write(CLINT_MTIMECMP + 1, 1, 0xab);
    expect(clint.read(CLINT_MTIMECMP, 4)).toBe(0xab00);
    expect(clint.nextDeadline()).toBe(2 * 2 ** 32 + 0xab00);
  });

  it("drives MSIP from msip bit 0", () => {
    const { clint, hart } = setup();
    clint.write(CLINT_MSIP, 4, 0xfffffffe);
    expect(hart.pending(IRQ.MSI)).toBe(false);
    expect(clint.read(CLINT_MSIP, 4)).toBe(0);
    clint.write(CLINT_MSIP, 4, 1);
    expect(hart.pending(IRQ.MSI)).toBe(true);
    expect(clint.read(CLINT_MSIP, 4)).toBe(1);
    clint.write(CLINT_MSIP, 4, 0);
    expect(hart.pending(IRQ.MSI)).toBe(false);
  });

  it("round-trips its state into a fresh CLINT and re-drives the lines", () => {
    const a = setup(500);
    a.clint.write(CLINT_MSIP, 4, 1);
    a.clint.write(CLINT_MTIMECMP + 4, 4, 0);
    a.clint.write(CLINT_MTIMECMP, 4, 400);
    a.clint.update();
    const saved = a.clint.save();

    const b = setup(500);
    b.clint.restore(saved, 1);
    expect(b.hart.pending(IRQ.MSI)).toBe(true);
    expect(b.hart.pending(IRQ.MTI)).toBe(true);
    expect(b.clint.nextDeadline()).toBe(400);
    expect(b.clint.save()).toEqual(saved);

    const c = setup(0);
    c.clint.restore(setup(0).clint.save(), 1);
    expect(c.clint.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    expect(() => c.clint.restore({ msip: 1 }, 1)).toThrow(/msip/);
    expect(() => c.clint.restore(saved, 2)).toThrow(/version 2/);
  });
});
