import { describe, expect, it } from "vitest";
import { Machine } from "../machine/machine.js";
import { buildTestElf, li, rv, words } from "../test-support/test-elf.js";
import { Access, Priv } from "./causes.js";
import { Csr } from "./csr-numbers.js";
import { Mmu } from "./mmu.js";

// Every CPU write into RAM must set the dirty bitmap: live migration copies only dirty pages, so
// a store that skipped it would be lost on the destination. These tests step one instruction at
// a time and compare the dirty set after each with the pages it wrote.

const BASE = 0x8000_0000;
const page = (n: number) => BASE + n * 0x1000;
const [V, R, W, X, A, D] = [1, 2, 4, 8, 0x40, 0x80];
const pte = (pa: number, flags: number) => ((pa >>> 12) << 10) | flags;
const AMO = {
  add: 0x00,
  swap: 0x01,
  xor: 0x04,
  or: 0x08,
  and: 0x0c,
  min: 0x10,
  max: 0x14,
  minu: 0x18,
  maxu: 0x1c,
};

interface Step {
  insn: number;
  /** RAM page numbers the step must leave dirty, exactly. */
  dirty: number[];
  /** The store must hit the TLB entry the hot loop uses (fast path) before it runs. */
  fastStoreTo?: number;
}

/** A machine whose code is `setup` (register set-up, not checked) followed by `steps`. */
function machine(setup: number[], steps: Step[]): Machine {
  const code = words(...setup, ...steps.map((s) => s.insn), rv.jal(0, 0));
  return Machine.create({
    mode: "firmware",
    memoryBytes: 1 << 20,
    image: buildTestElf({ entry: BASE, segments: [{ paddr: BASE, data: code }] }),
    clock: "instructions",
  });
}

function runSteps(m: Machine, setupLength: number, steps: Step[]): void {
  m.run(setupLength);
  m.ram.dirty.fetchAndClear();
  const hart = m.hart;
  for (const [i, step] of steps.entries()) {
    if (step.fastStoreTo !== undefined) {
      const vpn = step.fastStoreTo >>> 12;
      expect(hart.mmu.tags[Mmu.index(hart.priv, Access.Store, vpn)], `step ${i}: TLB hit`).toBe(vpn);
    }
    const pc = hart.pc;
    m.run(1);
    expect(hart.pc, `step ${i}: retired without a trap`).toBe((pc + 4) | 0);
    expect(Array.from(m.ram.dirty.fetchAndClear()), `step ${i}`).toEqual(step.dirty);
  }
}

describe("CPU writes set the dirty bitmap", () => {
  it("marks stores of every width, fast and slow path, misaligned ones on both pages, AMOs and SC", () => {
    const a = page(0x10);
    const b = page(0x11);
    const setup = [
      ...li(5, a),
      ...li(6, 0x1234_5678),
      ...li(7, b),
      ...li(8, page(0x13) - 2), // a word straddling pages 0x12 and 0x13
      ...li(9, page(0x14)),
    ];
    const steps: Step[] = [
      { insn: rv.sw(6, 5, 0), dirty: [0x10] }, // TLB miss: the slow path fills it
      { insn: rv.sw(6, 5, 4), dirty: [0x10], fastStoreTo: a },
      { insn: rv.sh(6, 5, 8), dirty: [0x10], fastStoreTo: a },
      { insn: rv.sb(6, 5, 11), dirty: [0x10], fastStoreTo: a },
      { insn: rv.sh(6, 7, 0), dirty: [0x11] },
      { insn: rv.sb(6, 7, 3), dirty: [0x11], fastStoreTo: b },
      { insn: rv.sb(6, 9, 0), dirty: [0x14] },
      { insn: rv.sw(6, 9, 1), dirty: [0x14], fastStoreTo: page(0x14) }, // misaligned: slow path
      { insn: rv.sh(6, 9, 3), dirty: [0x14], fastStoreTo: page(0x14) },
      { insn: rv.sw(6, 8, 0), dirty: [0x12, 0x13] },
      { insn: rv.sh(6, 8, 1), dirty: [0x12, 0x13] },
      { insn: rv.lw(10, 5, 0), dirty: [] },
      ...Object.values(AMO).map((f5) => ({ insn: rv.amo(f5, 10, 7, 6), dirty: [0x11] })),
      { insn: rv.amo(AMO.add, 0, 5, 6), dirty: [0x10] }, // rd = x0 still writes memory
      { insn: rv.lr(10, 7), dirty: [] },
      { insn: rv.sc(11, 7, 6), dirty: [0x11] }, // succeeds
      { insn: rv.sc(12, 7, 6), dirty: [] }, // reservation gone: fails, writes nothing
    ];
    const m = machine(setup, steps);
    runSteps(m, setup.length, steps);
    expect(m.hart.x[11]).toBe(0);
    expect(m.hart.x[12]).toBe(1);
    // The straddling stores really wrote both pages: sw 0x12345678 at -2, then sh 0x5678 at -1.
    expect(m.ram.readU32(page(0x13) - 2)).toBe(0x1256_7878);
  });

  it("marks the page-table page when an Sv32 walk sets A or D", () => {
    const root = page(0x20);
    const l0 = page(0x21);
    const data = page(0x30);
    const setup = [...li(5, 0x0001_0000), ...li(6, 0x55), ...li(7, 0x0040_0000 + 0x3_1000)];
    const steps: Step[] = [
      { insn: rv.lw(10, 5, 0), dirty: [0x21] }, // A set in the leaf (page 0x21), data page clean
      { insn: rv.sw(6, 5, 0), dirty: [0x21, 0x30] }, // D set, and the store itself
      { insn: rv.sw(6, 5, 4), dirty: [0x30], fastStoreTo: 0x0001_0000 }, // D already set: data only
      { insn: rv.sw(6, 7, 0), dirty: [0x20, 0x31] }, // superpage leaf in the root gets A and D
      { insn: rv.lw(10, 7, 0), dirty: [] },
    ];
    const m = machine(setup, steps);
    // Code in an identity superpage with A/D already set; VA 0x10000 -> page 0x30 through l0 and
    // VA 0x400000 -> RAM (superpage) with A and D clear.
    m.ram.writeU32(root + 0x200 * 4, pte(BASE, V | R | W | X | A | D));
    m.ram.writeU32(root, pte(l0, V));
    m.ram.writeU32(root + 1 * 4, pte(BASE, V | R | W));
    m.ram.writeU32(l0 + 0x10 * 4, pte(data, V | R | W));
    m.hart.csrWrite(Csr.satp, 0x8000_0000 | (root >>> 12));
    m.hart.priv = Priv.S;
    m.hart.pmp.openAll(); // firmware mode resets PMP to all OFF: S would be denied everything
    runSteps(m, setup.length, steps);
    expect(m.ram.readU32(l0 + 0x10 * 4) & (A | D)).toBe(A | D);
    expect(m.ram.readU32(root + 4) & (A | D)).toBe(A | D);
  });
});
