import { describe, expect, it } from "vitest";
import { IRQ } from "../irq.js";
import { TestHart } from "../test-support/test-hart.js";
import { PLIC_CONTEXT, PLIC_ENABLE, PLIC_PENDING, Plic } from "./plic.js";

const S = 1; // hart 0 S-mode context
const M = 0;
const claimReg = (ctx: number) => PLIC_CONTEXT + 0x1000 * ctx + 4;
const thresholdReg = (ctx: number) => PLIC_CONTEXT + 0x1000 * ctx;
const enableReg = (ctx: number) => PLIC_ENABLE + 0x80 * ctx;

function setup() {
  const hart = new TestHart();
  const plic = new Plic(hart, 32);
  return { hart, plic };
}

describe("Plic", () => {
  it("routes an enabled source above threshold to SEIP and follows claim/complete", () => {
    const { hart, plic } = setup();
    plic.write(10 * 4, 4, 1);
    plic.write(enableReg(S), 4, 1 << 10);
    plic.setLevel(10, true);
    expect(hart.pending(IRQ.SEI)).toBe(true);
    expect(hart.pending(IRQ.MEI)).toBe(false); // not enabled for the M context
    expect(plic.read(PLIC_PENDING, 4)).toBe(1 << 10);

    expect(plic.read(claimReg(S), 4)).toBe(10);
    expect(hart.pending(IRQ.SEI)).toBe(false);
    expect(plic.read(PLIC_PENDING, 4)).toBe(0);
    expect(plic.read(claimReg(S), 4)).toBe(0); // nothing else pending

    // The line is still high: the gateway forwards a new request only after completion.
    plic.write(claimReg(S), 4, 10);
    expect(hart.pending(IRQ.SEI)).toBe(true);
    expect(plic.read(claimReg(S), 4)).toBe(10);
    plic.setLevel(10, false);
    plic.write(claimReg(S), 4, 10);
    expect(hart.pending(IRQ.SEI)).toBe(false);
    expect(plic.read(PLIC_PENDING, 4)).toBe(0);
  });

  it("latches a request whose line drops before the claim", () => {
    const { hart, plic } = setup();
    plic.write(3 * 4, 4, 2);
    plic.write(enableReg(S), 4, 1 << 3);
    plic.setLevel(3, true);
    plic.setLevel(3, false);
    expect(hart.pending(IRQ.SEI)).toBe(true);
    expect(plic.read(claimReg(S), 4)).toBe(3);
    plic.write(claimReg(S), 4, 3);
    expect(hart.pending(IRQ.SEI)).toBe(false);
  });

  it("orders claims by priority, then by lowest id; priority 0 never interrupts", () => {
    const { hart, plic } = setup();
    plic.write(enableReg(S), 4, 0xffffffff);
    expect(plic.read(enableReg(S), 4)).toBe(0xfffffffe); // source 0 does not exist
    for (const [id, prio] of [
      [1, 1],
      [2, 5],
      [5, 5],
      [7, 0],
    ] as const) {
      plic.write(id * 4, 4, prio);
      plic.setLevel(id, true);
    }
    expect(plic.read(2 * 4, 4)).toBe(5);
    expect(plic.read(claimReg(S), 4)).toBe(2);
    expect(plic.read(claimReg(S), 4)).toBe(5);
    expect(plic.read(claimReg(S), 4)).toBe(1);
    expect(plic.read(claimReg(S), 4)).toBe(0); // 7 has priority 0
    expect(hart.pending(IRQ.SEI)).toBe(false);
    expect(plic.read(PLIC_PENDING, 4)).toBe(1 << 7);
  });

  it("masks the output by threshold but not the claim", () => {
    const { hart, plic } = setup();
    plic.write(4 * 4, 4, 3);
    plic.write(enableReg(M), 4, 1 << 4);
    plic.write(thresholdReg(M), 4, 3);
    plic.setLevel(4, true);
    expect(hart.pending(IRQ.MEI)).toBe(false);
    plic.write(thresholdReg(M), 4, 2);
    expect(hart.pending(IRQ.MEI)).toBe(true);
    plic.write(thresholdReg(M), 4, 7);
    expect(hart.pending(IRQ.MEI)).toBe(false);
    expect(plic.read(thresholdReg(M), 4)).toBe(7);
    expect(plic.read(claimReg(M), 4)).toBe(4);
  });

  it("ignores completions for sources not enabled in the completing context", () => {
    const { hart, plic } = setup();
    plic.write(6 * 4, 4, 1);
    plic.write(enableReg(S), 4, 1 << 6);
    plic.setLevel(6, true);
    expect(plic.read(claimReg(S), 4)).toBe(6);
    plic.write(claimReg(M), 4, 6); // not enabled for M: ignored
    expect(hart.pending(IRQ.SEI)).toBe(false);
    plic.write(claimReg(S), 4, 6);
    expect(hart.pending(IRQ.SEI)).toBe(true);
  });

  it("ignores out-of-range sources, reserved registers and pending writes without throwing", () => {
    const { hart, plic } = setup();
    plic.setLevel(0, true);
    plic.setLevel(32, true);
    plic.setLevel(-1, true);
    plic.write(PLIC_PENDING, 4, 0xffffffff);
    plic.write(0x3ffff00, 4, 1);
    plic.write(claimReg(S), 4, 999);
    expect(plic.read(PLIC_PENDING, 4)).toBe(0);
    expect(plic.read(0x3ffff00, 4)).toBe(0);
    expect(plic.read(0, 4)).toBe(0);
    plic.write(0, 4, 7);
    expect(plic.read(0, 4)).toBe(0);
    expect(hart.mip).toBe(0);
  });

  it("round-trips a claimed and a pending source", () => {
    const a = setup();
    a.plic.write(enableReg(S), 4, (1 << 1) | (1 << 2));
    a.plic.write(1 * 4, 4, 1);
    a.plic.write(2 * 4, 4, 2);
    a.plic.setLevel(1, true);
    a.plic.setLevel(2, true);
    expect(a.plic.read(claimReg(S), 4)).toBe(2); // 2 in service, 1 pending
    const saved = a.plic.save();

    const b = setup();
    b.plic.restore(saved, 1);
    expect(b.hart.pending(IRQ.SEI)).toBe(true);
    expect(b.plic.save()).toEqual(saved);
    b.plic.write(claimReg(S), 4, 2); // completes; line 2 still high -> pending again
    expect(b.plic.read(claimReg(S), 4)).toBe(2);
    expect(b.plic.read(claimReg(S), 4)).toBe(1);
    expect(() => new Plic(new TestHart(), 64).restore(saved, 1)).toThrow(/sources/);
    expect(() => b.plic.restore(saved, 2)).toThrow(/version 2/);
  });

  it("drives the external interrupt line only when it changes", () => {
    const { hart, plic } = setup();
    plic.write(9 * 4, 4, 1);
    plic.write(enableReg(S), 4, 1 << 9);
    plic.setLevel(9, true);
    plic.setLevel(9, true);
    plic.setLevel(9, false);
    plic.setLevel(9, true);
    expect(hart.drives.get(IRQ.SEI)).toBe(1);
  });
});
