import { describe, expect, it } from "vitest";
import { Machine } from "../../machine/machine.js";
import { buildTestElf, rv, words } from "../../test-support/test-elf.js";

const TEST_JIT = { hotAfter: 256, startAfter: 0 };

const BASE = 0x8000_0000;
const DATA = BASE + 0x8000;
const A0 = 10;
const A1 = 11;
const A2 = 12;
const T1 = 6;
const T2 = 7;

const bne = (rs1: number, rs2: number, off: number): number =>
  (((off >> 12) & 1) << 31) |
  (((off >> 5) & 0x3f) << 25) |
  (rs2 << 20) |
  (rs1 << 15) |
  (1 << 12) |
  (((off >> 1) & 0xf) << 8) |
  (((off >> 11) & 1) << 7) |
  0x63;

function machine(code: number[], jit: boolean): Machine {
  return Machine.create({
    mode: "firmware",
    memoryBytes: 1 << 20,
    image: buildTestElf({ entry: BASE, segments: [{ paddr: BASE, data: words(...code) }] }),
    clock: "instructions",
    // These programs are sized for translation after 256 runs (a machine's default waits longer).
    jit: jit && TEST_JIT,
  });
}

/**
 * A loop of 1000 rounds whose first instruction (addi a0, a0, 1) the loop itself overwrites with
 * addi a0, a0, 100 in round 500, long after the loop got hot and translated: a0 ends at
 * 500 + 500 * 100 only if the store drops the stale block.
 */
const SELF_MODIFYING = [
  rv.addi(A1, 0, 1000),
  rv.addi(A2, 0, 500),
  rv.addi(A0, A0, 1), // word 2: overwritten
  rv.addi(A1, A1, -1),
  bne(A1, A2, 8),
  rv.sw(T1, T2, 0),
  bne(A1, 0, -16),
  rv.jal(0, 0),
];

function selfModifying(jit: boolean): Machine {
  const m = machine(SELF_MODIFYING, jit);
  m.hart.x[T1] = rv.addi(A0, A0, 100);
  m.hart.x[T2] = BASE + 8;
  return m;
}

describe("block translation", () => {
  it("runs code the program rewrote itself, in the middle of a hot loop", () => {
    for (const jit of [false, true]) {
      const m = selfModifying(jit);
      m.run(8000);
      expect(m.hart.x[A0]).toBe(50500);
      expect(m.hart.pc).toBe((BASE + 7 * 4) | 0);
    }
    const m = selfModifying(true);
    m.run(5100);
    // Before the rewrite (round 500, instruction ~2500) most rounds ran translated.
    expect(m.hart.jit!.retiredInBlocks).toBeGreaterThan(1500);
    expect(m.hart.jit!.stats().invalidations).toBe(1);
  });

  it("drops translations a device's DMA write replaced", () => {
    const loop = [rv.addi(A0, A0, 1), rv.jal(0, -4)];
    const m = machine(loop, true);
    m.run(1000);
    expect(m.hart.x[A0]).toBe(500);
    expect(m.hart.jit!.stats().blocks).toBeGreaterThan(0);
    // The way virtio-blk writes a sector read into guest memory.
    m.ram.write(BASE, words(rv.addi(A0, A0, 7)));
    m.hart.x[A0] = 0;
    const before = m.hart.jit!.retiredInBlocks;
    m.run(4000);
    expect(m.hart.x[A0]).toBe(14000);
    expect(m.hart.jit!.stats().invalidations).toBe(1);
    expect(m.hart.jit!.retiredInBlocks - before).toBeGreaterThan(2000);
  });

  it("translates nothing before the hart has retired `startAfter` instructions, then the hot code", () => {
    const loop = [rv.addi(A0, A0, 1), rv.jal(0, -4)];
    const m = Machine.create({
      mode: "firmware",
      memoryBytes: 1 << 20,
      image: buildTestElf({ entry: BASE, segments: [{ paddr: BASE, data: words(...loop) }] }),
      clock: "instructions",
      jit: { hotAfter: 256, startAfter: 10_000 },
    });
    m.run(10_000);
    expect(m.hart.jit!.stats().translated).toBe(0);
    m.run(10_000);
    expect(m.hart.x[A0]).toBe(10_000);
    expect(m.hart.jit!.retiredInBlocks).toBeGreaterThan(9000);
  });

  it("marks every page its stores hit dirty, as the interpreter does", () => {
    // sw a0, 0(t2); addi a0, a0, 1; addi t2, t2, 1024; bne t2, t1, loop; jal 0: four pages written.
    const code = [
      rv.sw(A0, T2, 0),
      rv.addi(A0, A0, 1),
      rv.addi(T2, T2, 1024),
      bne(T2, T1, -12),
      rv.jal(0, 0),
    ];
    const pages: number[][] = [];
    for (const jit of [false, true]) {
      const m = machine(code, jit);
      m.ram.dirty.fetchAndClear();
      const seen: number[] = [];
      for (let round = 0; round < 20; round++) {
        m.hart.pc = BASE;
        m.hart.x[T2] = DATA;
        m.hart.x[T1] = DATA + 16 * 1024;
        m.run(200);
        seen.push(...m.ram.dirty.fetchAndClear());
      }
      if (jit) expect(m.hart.jit!.retiredInBlocks).toBeGreaterThan(1000);
      pages.push(seen);
    }
    const dataPages = [8, 9, 10, 11];
    expect(pages[0]).toEqual(Array.from({ length: 20 }, () => dataPages).flat());
    expect(pages[1]).toEqual(pages[0]);
  });

  it("keeps translations out of snapshots: a restored machine rebuilds them and ends the same", () => {
    const withJit = selfModifying(true);
    const without = selfModifying(false);
    // Round 375 of 1000: the loop is translated, and not yet rewritten.
    withJit.run(1500);
    without.run(1500);
    expect(withJit.hart.jit!.stats().blocks).toBeGreaterThan(0);
    const snap = withJit.snapshot();
    expect(Buffer.compare(Buffer.from(snap), Buffer.from(without.snapshot()))).toBe(0);
    const restored = Machine.restore(snap, { jit: TEST_JIT });
    expect(restored.hart.jit!.stats().blocks).toBe(0);
    restored.run(8000);
    expect(restored.hart.x[A0]).toBe(50500);
    expect(restored.hart.jit!.retiredInBlocks).toBeGreaterThan(0);
  });
});
