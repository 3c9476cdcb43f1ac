import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Priv } from "../cpu/causes.js";
import { Csr } from "../cpu/csr-numbers.js";
import { parseElf } from "../loader/elf.js";
import { buildTestElf, li, rv, words } from "../test-support/test-elf.js";
import { Machine } from "./machine.js";

const guest = readFileSync(new URL("../../test-guests/determinism.elf", import.meta.url));
const symbols = parseElf(guest).symbols;

function symbol(name: string): number {
  const addr = symbols.get(name);
  if (addr === undefined) throw new Error(`determinism.elf has no symbol ${name}`);
  return addr;
}

/** The guest's S-mode counters: page faults, PTEs aged, young PTEs found, SSIs taken. */
function sCounters(m: Machine): number[] {
  const base = symbol("s_counters");
  return [0, 1, 2, 3].map((i) => m.ram.readU32(base + 4 * i));
}

/** Byte equality without vitest's element-wise diff (snapshots are megabytes). */
function expectSameBytes(a: Uint8Array, b: Uint8Array): void {
  expect(a.length).toBe(b.length);
  expect(Buffer.compare(a, b)).toBe(0);
}

function boot(): Machine {
  return Machine.create({ mode: "firmware", memoryBytes: 4 << 20, image: guest, clock: "instructions" });
}

/** A seeded PRNG so the "random" snapshot points are the same on every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("snapshot and restore", () => {
  it("continues bit-identically from snapshots taken at many random points", () => {
    const reference = boot();
    const random = lcg(42);
    let output = 0;
    reference.onConsoleOutput = (b) => {
      output += b.length;
    };
    const privs = new Set<number>();
    for (let i = 0; i < 40; i++) {
      reference.run(1 + Math.floor(random() * 200_000));
      privs.add(reference.hart.priv);
      const snap = reference.snapshot();
      const copy = Machine.restore(snap);
      expectSameBytes(copy.snapshot(), snap);
      const steps = 1 + Math.floor(random() * 50_000);
      const a = reference.run(steps);
      const b = copy.run(steps);
      expect(b).toEqual(a);
      expectSameBytes(copy.snapshot(), reference.snapshot());
    }
    // The workload really ran: timer interrupts, console output and stores all happened, and the
    // snapshots fell into both phases (M bare; S and U under Sv32).
    expect(reference.instret).toBeGreaterThan(1_000_000);
    expect(output).toBeGreaterThan(0);
    expect([...privs].sort()).toEqual([Priv.U, Priv.S, Priv.M].sort());
    // Phase 2 really aged PTEs whose A bits the walk had set, and demand-mapped pages.
    const [faults, aged, young, ssis] = sCounters(reference);
    expect(faults).toBeGreaterThan(5);
    expect(aged).toBeGreaterThan(100);
    expect(young).toBeGreaterThan(10);
    expect(ssis).toBeGreaterThan(100);
  });

  it("gives the same result however the run is split into budgets", () => {
    const total = 3_000_000;
    const whole = boot();
    whole.run(total);
    const split = boot();
    const random = lcg(7);
    for (let done = 0; done < total; ) {
      const budget = Math.min(total - done, 1 + Math.floor(random() * 30_000));
      split.run(budget);
      done += budget;
    }
    expectSameBytes(split.snapshot(), whole.snapshot());
  });
});

describe("snapshots and the TLB", () => {
  it("drops the source's cached translations when a snapshot is taken", () => {
    // S-mode under Sv32: code in an identity superpage, VA 0x10000 on a data page whose leaf PTE
    // starts without A; the program loads from it in a loop.
    const base = 0x8000_0000;
    const root = base + 0x1000;
    const l0 = base + 0x2000;
    const leaf = l0 + 0x10 * 4;
    const [V, R, W, X, A, D] = [1, 2, 4, 8, 0x40, 0x80];
    const pte = (pa: number, flags: number) => ((pa >>> 12) << 10) | flags;
    const code = words(...li(5, 0x10000), rv.lw(6, 5, 0), rv.jal(0, -4));
    const m = Machine.create({
      mode: "firmware",
      memoryBytes: 1 << 20,
      image: buildTestElf({ entry: base, segments: [{ paddr: base, data: code }] }),
      clock: "instructions",
    });
    m.ram.writeU32(root + 0x200 * 4, pte(base, V | R | W | X | A | D));
    m.ram.writeU32(root, pte(l0, V));
    m.ram.writeU32(leaf, pte(base + 0x3000, V | R | W));
    m.hart.csrWrite(Csr.satp, 0x8000_0000 | (root >>> 12));
    m.hart.priv = Priv.S;
    m.hart.pmp.openAll(); // firmware mode resets PMP to all OFF: S would be denied everything
    const young = (machine: Machine) => (machine.ram.readU32(leaf) & A) !== 0;
    const clearA = () => m.ram.writeU32(leaf, m.ram.readU32(leaf) & ~A);
    m.run(10);
    expect(young(m)).toBe(true);
    // The guest clears A without SFENCE.VMA (ptep_clear_flush_young): the cached translation
    // keeps serving the loads, nothing sets A again. That is the hazard.
    clearA();
    m.run(10);
    expect(young(m)).toBe(false);
    // After a snapshot both the source and the restored copy walk again and set A.
    const copy = Machine.restore(m.snapshot());
    m.run(10);
    copy.run(10);
    expect(young(copy)).toBe(true);
    expect(young(m)).toBe(true);
    expectSameBytes(copy.snapshot(), m.snapshot());
  });
});
