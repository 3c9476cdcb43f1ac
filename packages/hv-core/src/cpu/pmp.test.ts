import { describe, expect, it } from "vitest";
import { Bus } from "../bus.js";
import { Ram } from "../memory/ram.js";
import { li, rv, words } from "../test-support/test-elf.js";
import { Access, Cause, Priv } from "./causes.js";
import { Csr, MS } from "./csr-numbers.js";
import { Hart } from "./hart.js";
import { Mmu } from "./mmu.js";
import { Pmp } from "./pmp.js";

const BASE = 0x8000_0000;
/** Registers and CSRs hold addresses as int32. */
const i32 = (v: number) => v | 0;
const RAM_SIZE = 64 * 1024;
const [R, W, X] = [1, 2, 4];
const [TOR, NA4, NAPOT] = [0x08, 0x10, 0x18];
const L = 0x80;
const { Fetch, Load, Store } = Access;

/** pmpaddr of a naturally aligned power-of-two region of `size` >= 8 bytes. */
const napot = (base: number, size: number) => (base >>> 2) | ((size >>> 3) - 1) | 0;
const pmp = () => new Pmp(BASE, RAM_SIZE / 4096);

describe("PMP CSRs (WARL)", () => {
  it("stores configs four to a pmpcfg, little-endian, with bits 6:5 reading zero", () => {
    const p = pmp();
    p.writeCfg(0, 0x7f_1f_0d_01 | 0);
    expect(p.readCfg(0) >>> 0).toBe(0x1f_1f_0d_01);
    p.writeCfg(3, 0x19_00_00_00);
    expect(p.readCfg(3) >>> 0).toBe(0x19_00_00_00);
    expect(p.cfg[15]).toBe(0x19);
  });

  it("keeps an entry's config when R=0 W=1 (reserved) is written, and only that entry's", () => {
    const p = pmp();
    p.writeCfg(0, 0x0b_01);
    p.writeCfg(0, 0x1a_1f);
    expect(p.readCfg(0)).toBe(0x0b_1f);
    p.writeCfg(0, 0x1e_1e);
    expect(p.readCfg(0)).toBe(0x0b_1f);
    p.writeCfg(0, 0x02_00);
    expect(p.readCfg(0)).toBe(0x0b_00);
  });

  it("implements 16 entries: pmpcfg4-15 and pmpaddr16-63 read zero whatever is written", () => {
    const p = pmp();
    for (let n = 4; n < 16; n++) {
      p.writeCfg(n, -1);
      expect(p.readCfg(n)).toBe(0);
    }
    for (let n = 16; n < 64; n++) {
      p.writeAddr(n, -1);
      expect(p.readAddr(n)).toBe(0);
    }
    // G = 0: all 32 bits of pmpaddr (address bits 33:2) are writable, in every mode.
    for (const mode of [0, TOR, NA4, NAPOT]) {
      p.writeCfg(0, mode);
      p.writeAddr(0, -1);
      expect(p.readAddr(0)).toBe(-1);
      p.writeAddr(0, 0x1234_5679);
      expect(p.readAddr(0)).toBe(0x1234_5679);
    }
  });

  it("locks an entry's config and address until reset; a locked TOR entry also locks the address below", () => {
    const p = pmp();
    p.writeAddr(0, 0x100);
    p.writeAddr(1, 0x200);
    p.writeAddr(2, 0x300);
    p.writeCfg(0, (L | TOR | R) << 8);
    p.writeCfg(0, 0x1f_1f);
    expect(p.readCfg(0)).toBe(((L | TOR | R) << 8) | 0x1f);
    p.writeAddr(1, 0x999);
    p.writeAddr(0, 0x999);
    p.writeAddr(2, 0x999);
    expect([p.readAddr(0), p.readAddr(1), p.readAddr(2)]).toEqual([0x100, 0x200, 0x999]);
    // A locked NAPOT entry leaves the address below it writable.
    p.writeCfg(0, (L | NAPOT | R) << 16);
    p.writeAddr(1, 0x555);
    expect(p.readAddr(1)).toBe(0x200);
    p.writeAddr(2, 0x555);
    expect(p.readAddr(2)).toBe(0x999);
    p.reset();
    p.writeAddr(1, 0x555);
    expect(p.readAddr(1)).toBe(0x555);
  });
});

describe("PMP matching", () => {
  it("with no entry on: M-mode succeeds everywhere, S and U fail everywhere", () => {
    const p = pmp();
    for (const kind of [Fetch, Load, Store] as const) {
      expect(p.allows(BASE, 4, kind, Priv.M)).toBe(true);
      expect(p.allows(0x1000_0000, 1, kind, Priv.M)).toBe(true);
      expect(p.allows(BASE, 4, kind, Priv.S)).toBe(false);
      expect(p.allows(BASE, 4, kind, Priv.U)).toBe(false);
    }
  });

  it("NA4 covers four bytes, NAPOT 2^(t+3) bytes, TOR [pmpaddr(i-1), pmpaddr(i)) and [0, pmpaddr0) for entry 0", () => {
    const p = pmp();
    p.writeAddr(0, (BASE + 0x100) >>> 2);
    p.writeAddr(1, napot(BASE + 0x200, 0x100));
    p.writeAddr(2, (BASE + 0x400) >>> 2);
    p.writeAddr(3, (BASE + 0x500) >>> 2);
    p.writeCfg(0, ((R | TOR) << 24) | ((R | TOR) << 16) | ((R | NAPOT) << 8) | (R | NA4));
    const loads = (a: number) => p.allows(a, 4, Load, Priv.S);
    expect([BASE + 0xfc, BASE + 0x100, BASE + 0x104].map(loads)).toEqual([false, true, false]);
    expect([BASE + 0x1fc, BASE + 0x200, BASE + 0x2fc].map(loads)).toEqual([false, true, true]);
    // Entry 2 is TOR from pmpaddr1 read as a plain address (BASE + 0x27c) to BASE + 0x400.
    const q2 = pmp();
    q2.writeAddr(1, napot(BASE + 0x200, 0x100));
    q2.writeAddr(2, (BASE + 0x400) >>> 2);
    q2.writeCfg(0, (R | TOR) << 16);
    const torLoads = (a: number) => q2.allows(a, 4, Load, Priv.S);
    expect([BASE + 0x278, BASE + 0x27c, BASE + 0x3fc, BASE + 0x400].map(torLoads)).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect([BASE + 0x300, BASE + 0x3fc, BASE + 0x400].map(loads)).toEqual([true, true, true]);
    expect([BASE + 0x4fc, BASE + 0x500].map(loads)).toEqual([true, false]);
    // TOR in entry 0 starts at 0.
    const q = pmp();
    q.writeAddr(0, 0x1000 >>> 2);
    q.writeCfg(0, R | TOR);
    expect([0, 0xffc, 0x1000].map((a) => q.allows(a, 4, Load, Priv.U))).toEqual([true, true, false]);
  });

  it("NAPOT with pmpaddr all ones covers the whole 34-bit space; TOR with top <= bottom matches nothing", () => {
    const p = pmp();
    p.writeAddr(0, -1);
    p.writeCfg(0, R | W | X | NAPOT);
    for (const a of [0, BASE, 0xffff_fffc, 2 ** 34 - 4]) expect(p.allows(a, 4, Store, Priv.U)).toBe(true);
    const q = pmp();
    q.writeAddr(0, (BASE + 0x100) >>> 2);
    q.writeAddr(1, (BASE + 0x100) >>> 2);
    q.writeCfg(0, (R | TOR) << 8);
    expect(q.allows(BASE + 0x80, 4, Load, Priv.S)).toBe(false);
    expect(q.allows(BASE + 0x100, 4, Load, Priv.S)).toBe(false);
  });

  it("checks R for loads, W for stores, X for fetches", () => {
    for (const [perm, expected] of [
      [R, [false, true, false]],
      [R | W, [false, true, true]],
      [X, [true, false, false]],
      [R | W | X, [true, true, true]],
      [0, [false, false, false]],
    ] as const) {
      const p = pmp();
      p.writeAddr(0, napot(BASE, RAM_SIZE));
      p.writeCfg(0, perm | NAPOT);
      const got = [Fetch, Load, Store].map((k) => p.allows(BASE + 8, 4, k as 0 | 1 | 2, Priv.S));
      expect(got, `perm ${perm}`).toEqual(expected);
    }
  });

  it("lets the lowest-numbered matching entry decide, and fails an access it matches only in part", () => {
    const p = pmp();
    p.writeAddr(0, napot(BASE + 0x10, 8));
    p.writeAddr(1, napot(BASE, RAM_SIZE));
    p.writeCfg(0, ((R | W | X | NAPOT) << 8) | NAPOT);
    expect(p.allows(BASE + 0x10, 4, Load, Priv.S)).toBe(false);
    expect(p.allows(BASE + 0x18, 4, Load, Priv.S)).toBe(true);
    expect(p.allows(BASE + 0xc, 4, Load, Priv.S)).toBe(true);
    // Bytes 0x0e..0x11 straddle entry 0's start: entry 0 matches some, not all, so they fail,
    // even in M-mode where the entry's permissions would not apply.
    expect(p.allows(BASE + 0x0e, 4, Load, Priv.S)).toBe(false);
    expect(p.allows(BASE + 0x0e, 4, Load, Priv.M)).toBe(true); // no locked entry: M is unchecked
    p.writeCfg(1, L);
    expect(p.allows(BASE + 0x0e, 4, Load, Priv.M)).toBe(false);
    expect(p.allows(BASE + 0x14, 2, Load, Priv.S)).toBe(false);
  });

  it("applies an unlocked entry to S and U only, a locked one to M as well", () => {
    const p = pmp();
    p.writeAddr(0, napot(BASE, 0x1000));
    p.writeCfg(0, R | NAPOT);
    expect(p.allows(BASE, 4, Store, Priv.M)).toBe(true);
    expect(p.allows(BASE, 4, Store, Priv.S)).toBe(false);
    p.writeCfg(0, L | R | NAPOT);
    expect(p.allows(BASE, 4, Store, Priv.M)).toBe(false);
    expect(p.allows(BASE, 4, Load, Priv.M)).toBe(true);
    expect(p.allows(BASE, 4, Fetch, Priv.M)).toBe(false);
    // M with no matching entry still succeeds when some entry is locked.
    expect(p.allows(BASE + 0x1000, 4, Store, Priv.M)).toBe(true);
  });

  it("calls a page cacheable only when one entry decides the whole page alike", () => {
    const p = pmp();
    p.writeAddr(0, napot(BASE + 0x1010, 8));
    p.writeAddr(1, napot(BASE, RAM_SIZE));
    p.writeCfg(0, ((R | W | X | NAPOT) << 8) | (R | NAPOT));
    expect(p.pageAllows(0, Store, Priv.S)).toBe(true);
    expect(p.pageAllows(1, Load, Priv.S)).toBe(false);
    expect(p.pageAllows(1, Store, Priv.S)).toBe(false);
    expect(p.allows(BASE + 0x1010, 4, Store, Priv.S)).toBe(false);
    expect(p.allows(BASE + 0x1018, 4, Store, Priv.S)).toBe(true);
    // A rule change drops the cached decisions.
    p.writeCfg(0, (R | NAPOT) << 8);
    expect(p.pageAllows(0, Store, Priv.S)).toBe(false);
    expect(p.pageAllows(0, Load, Priv.S)).toBe(true);
  });
});

/** A hart over 64 KiB of RAM running `code` at BASE; traps go to a self-loop at BASE + 0x800. */
function hart(code: number[], ram = new Ram(RAM_SIZE)): Hart {
  const h = new Hart(new Bus(ram), { clock: { now: () => 0 } });
  ram.write(BASE, words(...code));
  ram.write(BASE + 0x800, words(rv.jal(0, 0)));
  h.mtvec = BASE + 0x800;
  h.pc = BASE;
  return h;
}

/** Runs one step and returns the cause it trapped with, or undefined when it retired. */
function step(h: Hart): number | undefined {
  const before = h.mcause;
  h.mcause = -1;
  h.run(1);
  const cause = h.mcause === -1 ? undefined : h.mcause;
  if (cause === undefined) h.mcause = before;
  return cause;
}

const DATA = BASE + 0x1000;

describe("PMP in the hart", () => {
  it("faults S-mode loads, stores and fetches with causes 5, 7, 1 and mtval = address", () => {
    const h = hart([...li(5, DATA), rv.lw(6, 5, 0), rv.sw(6, 5, 0), rv.lw(6, 5, 0x10), rv.jal(0, 0x1000)]);
    h.priv = Priv.S;
    h.csrWrite(Csr.pmpaddr0, napot(DATA, 0x10));
    h.csrWrite(Csr.pmpaddr0 + 1, napot(BASE, RAM_SIZE));
    h.csrWrite(Csr.pmpcfg0, ((X | NAPOT) << 8) | (R | NAPOT));
    step(h);
    step(h);
    expect(step(h)).toBeUndefined();
    expect(step(h)).toBe(Cause.StoreAccessFault);
    expect([h.mtval, h.mepc, h.priv]).toEqual([i32(DATA), i32(BASE + 12), Priv.M]);
    h.priv = Priv.S;
    h.pc = BASE + 16;
    expect(step(h)).toBe(Cause.LoadAccessFault);
    expect(h.mtval).toBe(i32(DATA + 0x10));
    h.priv = Priv.S;
    h.pc = BASE + 20;
    expect(step(h)).toBeUndefined(); // jal to DATA + 20: entry 1 has X
    expect(h.pc).toBe(i32(DATA + 20));
    // The same fetch in U-mode, after X moved from entry 1 to nowhere.
    h.csrWrite(Csr.pmpcfg0, (R | NAPOT) << 8);
    h.priv = Priv.U;
    h.pc = BASE + 20;
    expect(step(h)).toBe(Cause.InstructionAccessFault);
    expect([h.mepc, h.mtval]).toEqual([i32(BASE + 20), i32(BASE + 20)]);
  });

  it("forgets cached translations when the rules change", () => {
    const h = hart([...li(5, DATA), rv.lw(6, 5, 0), rv.lw(6, 5, 0), rv.jal(0, -4)]);
    h.priv = Priv.S;
    h.csrWrite(Csr.pmpaddr0, napot(BASE, RAM_SIZE));
    h.csrWrite(Csr.pmpcfg0, R | X | NAPOT);
    h.run(3);
    const vpn = DATA >>> 12;
    expect(h.mmu.tags[Mmu.index(Priv.S, Load, vpn)]).toBe(vpn);
    h.csrWrite(Csr.pmpcfg0, X | NAPOT);
    expect(h.mmu.tags[Mmu.index(Priv.S, Load, vpn)]).toBe(-1);
    expect(step(h)).toBe(Cause.LoadAccessFault);
  });

  it("runs code from a page PMP splits, checking each fetch", () => {
    // Entry 0 takes X away from the word at BASE + 12 only: the page stays out of the TLB.
    const h = hart([rv.addi(6, 0, 1), rv.addi(6, 6, 1), rv.addi(6, 6, 1), rv.addi(6, 6, 1)]);
    h.priv = Priv.U;
    h.csrWrite(Csr.pmpaddr0, (BASE + 12) >>> 2);
    h.csrWrite(Csr.pmpaddr0 + 1, napot(BASE, RAM_SIZE));
    h.csrWrite(Csr.pmpcfg0, ((X | NAPOT) << 8) | NA4);
    expect(h.run(3)).toBe(3);
    expect(h.x[6]).toBe(3);
    expect(h.mmu.tags[Mmu.index(Priv.U, Fetch, BASE >>> 12)]).toBe(-1);
    expect(step(h)).toBe(Cause.InstructionAccessFault);
    expect(h.mtval).toBe(i32(BASE + 12));
  });

  it("checks M-mode loads and stores with MPRV against the MPP mode, and M's own fetches not", () => {
    const h = hart([...li(5, DATA), rv.lw(6, 5, 0), rv.sw(6, 5, 0), rv.jal(0, -8)]);
    h.csrWrite(Csr.pmpaddr0, napot(DATA, 0x1000));
    h.csrWrite(Csr.pmpcfg0, R | NAPOT);
    h.csrWrite(Csr.mstatus, MS.MPRV | (Priv.S << MS.MPP_SHIFT));
    step(h);
    step(h);
    expect(step(h)).toBeUndefined();
    expect(step(h)).toBe(Cause.StoreAccessFault);
    expect(h.mtval).toBe(i32(DATA));
    // MPP = U: no entry grants the fetch, but fetches are not affected by MPRV.
    h.csrWrite(Csr.mstatus, MS.MPRV | (Priv.U << MS.MPP_SHIFT));
    h.pc = BASE + 8;
    expect(step(h)).toBeUndefined();
    expect(step(h)).toBe(Cause.StoreAccessFault);
    // MPP = M: M's own rules (the entry is not locked).
    h.csrWrite(Csr.mstatus, MS.MPRV | (Priv.M << MS.MPP_SHIFT));
    h.pc = BASE + 12;
    expect(step(h)).toBeUndefined();
  });

  it("checks the page-table walk as S-mode accesses: a PTE PMP denies is an access fault of the access", () => {
    const root = BASE + 0x2000;
    const l0 = BASE + 0x3000;
    const pte = (pa: number, flags: number) => ((pa >>> 12) << 10) | flags;
    // VA 0x1000 maps to DATA (R, A, D); code runs from the 4 MiB superpage at BASE.
    const ram = new Ram(RAM_SIZE);
    const h = hart([...li(5, 0x1000), rv.lw(6, 5, 0), rv.jal(0, -4)], ram);
    ram.writeU32(root + (BASE >>> 22) * 4, pte(BASE, 0xcf));
    ram.writeU32(root, pte(l0, 1));
    ram.writeU32(l0 + 4, pte(DATA, 0xc3));
    h.csrWrite(Csr.satp, 0x8000_0000 | (root >>> 12));
    h.priv = Priv.S;
    // Entry 0: the level-0 table page, no access; entry 1: all RAM RWX.
    h.csrWrite(Csr.pmpaddr0, napot(l0, 0x1000));
    h.csrWrite(Csr.pmpaddr0 + 1, napot(BASE, RAM_SIZE));
    h.csrWrite(Csr.pmpcfg0, ((R | W | X | NAPOT) << 8) | NAPOT);
    step(h);
    step(h);
    expect(step(h)).toBe(Cause.LoadAccessFault);
    expect(h.mtval).toBe(0x1000);
    h.csrWrite(Csr.pmpcfg0, ((R | W | X | NAPOT) << 8) | (R | W | NAPOT));
    h.priv = Priv.S;
    h.pc = BASE + 8;
    expect(step(h)).toBeUndefined();
    // Setting A is a store to the PTE: with the table read-only to S, the walk fails there.
    ram.writeU32(l0 + 4, pte(DATA, 0x83));
    h.csrWrite(Csr.pmpcfg0, ((R | W | X | NAPOT) << 8) | (R | NAPOT));
    h.priv = Priv.S;
    h.pc = BASE + 8;
    expect(step(h)).toBe(Cause.LoadAccessFault);
    expect(ram.readU32(l0 + 4) & 0x40).toBe(0);
  });

  it("fails a misaligned access that straddles an entry's edge, even where both entries allow it", () => {
    const h = hart([...li(5, DATA + 6), rv.lw(6, 5, 0), rv.lw(6, 5, 2)]);
    h.priv = Priv.S;
    h.csrWrite(Csr.pmpaddr0, napot(DATA, 8));
    h.csrWrite(Csr.pmpaddr0 + 1, napot(BASE, RAM_SIZE));
    h.csrWrite(Csr.pmpcfg0, ((R | W | X | NAPOT) << 8) | (R | NAPOT));
    step(h);
    step(h);
    expect(step(h)).toBe(Cause.LoadAccessFault);
    expect(h.mtval).toBe(i32(DATA + 6));
    h.priv = Priv.S;
    h.pc = BASE + 12;
    expect(step(h)).toBeUndefined(); // DATA + 8..11: entry 1 only
  });

  it("saves and restores the PMP CSRs; a snapshot without them restores with PMP open", () => {
    const h = hart([]);
    h.csrWrite(Csr.pmpaddr0 + 3, 0x1234);
    h.csrWrite(Csr.pmpcfg0, (L | R | NA4) << 24);
    const state = h.save();
    const copy = hart([]);
    copy.restore(state);
    expect(copy.csrRead(Csr.pmpcfg0)).toBe(((L | R | NA4) << 24) | 0);
    expect(copy.csrRead(Csr.pmpaddr0 + 3)).toBe(0x1234);
    const { pmpcfg: _c, pmpaddr: _a, ...old } = state;
    const fromOld = hart([]);
    fromOld.restore(old);
    expect(fromOld.csrRead(Csr.pmpcfg0)).toBe(R | W | X | NAPOT);
    expect(fromOld.csrRead(Csr.pmpaddr0)).toBe(-1);
    expect(fromOld.pmp.allows(BASE, 4, Store, Priv.U)).toBe(true);
  });
});
