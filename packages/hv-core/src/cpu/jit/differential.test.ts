import { describe, expect, it } from "vitest";
import { Machine } from "../../machine/machine.js";
import { buildTestElf } from "../../test-support/test-elf.js";
import { Priv } from "../causes.js";

const TEST_JIT = { hotAfter: 256, startAfter: 0 };

const BASE = 0x8000_0000;
const MEMORY = 1 << 20;
const CODE = BASE + 0x1000;
const DATA = BASE + 0x10000;
const PAGE_TABLE = BASE + 0x400;
/** Sv32 satp for the identity megapage table at PAGE_TABLE. */
const SATP = 0x8000_0000 | (PAGE_TABLE >>> 12) | 0;
/** Registers the program never writes: x3 = data base, x4 = code base (stores there modify code), x6 = SATP. */
const FIXED = new Set([3, 4, 6]);
const CSRS = [0x340, 0x300, 0x304, 0x344, 0x180, 0xc00, 0xc01, 0xc02, 0xb00, 0xb02, 0x140, 0x100, 0x141];

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** A random RV32IMA + Zicsr stream biased towards what runs in blocks, ending in a jump back. */
function program(next: () => number, length: number): number[] {
  const pick = <T>(xs: readonly T[]): T => xs[next() % xs.length]!;
  const reg = () => next() & 31;
  const rd = () => {
    for (;;) {
      const r = reg();
      if (!FIXED.has(r)) return r;
    }
  };
  const code: number[] = [];
  for (let i = 0; i < length; i++) {
    const r = next() % 100;
    const f3 = next() & 7;
    const imm12 = (next() & 0xfff) << 20;
    let w: number;
    if (r < 28) {
      // OP-IMM, shifts sometimes with a reserved funct7
      const f7 = f3 === 1 || f3 === 5 ? pick([0, 0, 0x20 << 25, 0x10 << 25]) : 0;
      w =
        (f3 === 1 || f3 === 5 ? f7 | ((next() & 31) << 20) : imm12) |
        (reg() << 15) |
        (f3 << 12) |
        (rd() << 7) |
        0x13;
    } else if (r < 43) {
      w =
        (pick([0, 0, 0x20, 1, 1, 0x41]) << 25) |
        (reg() << 20) |
        (reg() << 15) |
        (f3 << 12) |
        (rd() << 7) |
        0x33;
    } else if (r < 47) {
      w = (next() & 0xfffff000) | (rd() << 7) | pick([0x37, 0x17]);
    } else if (r < 60) {
      // Loads off the data base (some misaligned, some off RAM through other registers)
      const base = pick([3, 3, 3, 4, reg()]);
      w = (((next() % 512) - 64) << 20) | (base << 15) | (f3 << 12) | (rd() << 7) | 0x03;
    } else if (r < 72) {
      // Stores: mostly data, some into the code (self-modifying)
      const base = pick([3, 3, 3, 4]);
      const imm = base === 4 ? next() % 2048 : (next() % 512) - 64;
      w = ((imm >> 5) << 25) | (reg() << 20) | (base << 15) | ((f3 & 3) << 12) | ((imm & 31) << 7) | 0x23;
    } else if (r < 81) {
      let off = ((next() % 25) - 12) * 4;
      if (off === 0) off = 8;
      if (next() % 10 === 0) off += 2;
      w =
        (((off >> 12) & 1) << 31) |
        (((off >> 5) & 0x3f) << 25) |
        (reg() << 20) |
        (reg() << 15) |
        (f3 << 12) |
        (((off >> 1) & 0xf) << 8) |
        (((off >> 11) & 1) << 7) |
        0x63;
    } else if (r < 84) {
      const off = ((next() % 32) - 16) * 4 || 4;
      w =
        (((off >> 20) & 1) << 31) |
        (((off >> 1) & 0x3ff) << 21) |
        (((off >> 11) & 1) << 20) |
        (((off >> 12) & 0xff) << 12) |
        (rd() << 7) |
        0x6f;
    } else if (r < 86) {
      w = (((next() % 2048) & ~pick([3, 1, 0])) << 20) | (pick([4, 4, reg()]) << 15) | (rd() << 7) | 0x67;
    } else if (r < 92) {
      const csr = pick(CSRS);
      const src = csr === 0x180 ? pick([0, 6]) : reg();
      w = (csr << 20) | (src << 15) | (pick([1, 2, 3, 5, 6, 7]) << 12) | (rd() << 7) | 0x73;
    } else if (r < 94) {
      w = pick([0x0ff0000f, 0x0000100f, 0x12000073, 0x00000073, 0x00100073, 0x10500073]);
    } else if (r < 97) {
      // AMOs, LR/SC on the data base
      const f5 = pick([0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c]);
      w = (f5 << 27) | ((f5 === 2 ? 0 : reg()) << 20) | (3 << 15) | (2 << 12) | (rd() << 7) | 0x2f;
    } else {
      w = next() | 0;
    }
    code.push(w | 0);
  }
  // Back to the start: the stream loops, so its blocks get hot and translated.
  const back = -length * 4;
  code.push(
    (((back >> 20) & 1) << 31) |
      (((back >> 1) & 0x3ff) << 21) |
      (((back >> 11) & 1) << 20) |
      (((back >> 12) & 0xff) << 12) |
      0x6f,
  );
  return code;
}

function machine(code: number[], jit: boolean): Machine {
  const image = new Uint32Array(0x2000);
  // Trap handlers that skip the trapping instruction: M at BASE, S at BASE + 0x20.
  image.set([0x341022f3, 0x00428293, 0x34129073, 0x30200073], 0);
  image.set([0x141022f3, 0x00428293, 0x14129073, 0x10200073], 8);
  // Identity megapage over RAM (RWX, A and D set): VPN1 0x200 → PPN 0x80000.
  image[(PAGE_TABLE - BASE) / 4 + 0x200] = (0x80000 << 10) | 0xcf;
  image.set(code, (CODE - BASE) / 4);
  return Machine.create({
    mode: "firmware",
    memoryBytes: MEMORY,
    image: buildTestElf({ entry: CODE, segments: [{ paddr: BASE, data: new Uint8Array(image.buffer) }] }),
    clock: "instructions",
    // These programs are sized for translation after 256 runs (a machine's default waits longer).
    jit: jit && TEST_JIT,
  });
}

function setUp(m: Machine, seed: number, next: () => number): void {
  const h = m.hart;
  h.mtvec = BASE;
  h.stvec = BASE + 0x20;
  h.medeleg = next() & 0xb1ff;
  h.mideleg = 0x222;
  h.x[3] = DATA;
  h.x[4] = CODE;
  h.x[6] = SATP;
  // Small values (signed and not) as well as wide ones, so comparisons and shifts see both.
  for (const r of [1, 2, 5, 7, 8, 9, 10, 11, 12])
    h.x[r] = next() & 1 ? next() | 0 : ((next() % 4096) - 2048) | 0;
  h.pmp.openAll();
  // Seeds cycle through M, S with paging, S bare, U bare.
  const mode = seed % 4;
  h.priv = mode === 0 ? Priv.M : mode === 3 ? Priv.U : Priv.S;
  if (mode === 1) h.csrWrite(0x180, SATP);
  m.ram.dirty.fetchAndClear();
}

function expectSame(a: Machine, b: Machine, where: string): void {
  expect(b.hart.save(), where).toEqual(a.hart.save());
  expect(Buffer.compare(Buffer.from(a.ram.buffer), Buffer.from(b.ram.buffer)), `${where}: RAM`).toBe(0);
  expect(Array.from(b.ram.dirty.words), `${where}: dirty pages`).toEqual(Array.from(a.ram.dirty.words));
}

describe("block translation against the interpreter", () => {
  it("leaves the same state as the interpreter after every run slice, over random RV32IMA streams", () => {
    let inBlocks = 0;
    let total = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const gen = lcg(seed * 7919);
      const code = program(gen, 300 + (gen() % 400));
      const ref = machine(code, false);
      const fast = machine(code, true);
      setUp(ref, seed, lcg(seed));
      setUp(fast, seed, lcg(seed));
      const budgets = lcg(seed + 1000);
      for (let slice = 0; slice < 1500; slice++) {
        const budget = 1 + (budgets() % 300);
        const stepsRef = ref.hart.run(budget);
        const stepsFast = fast.hart.run(budget);
        const where = `seed ${seed}, slice ${slice}`;
        expect(stepsFast, where).toBe(stepsRef);
        expectSame(ref, fast, where);
        // Dirty bits are sticky: take them each slice, so a store that fails to mark shows.
        ref.ram.dirty.fetchAndClear();
        fast.ram.dirty.fetchAndClear();
        // A WFI idles the hart: wake both the same way.
        if (ref.hart.waitingForInterrupt) {
          ref.hart.waitingForInterrupt = false;
          fast.hart.waitingForInterrupt = false;
        }
      }
      inBlocks += fast.hart.jit!.retiredInBlocks;
      total += fast.hart.retired;
    }
    // The translator really ran a good part of it.
    expect(inBlocks).toBeGreaterThan(total / 10);
  });
});
