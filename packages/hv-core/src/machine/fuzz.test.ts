import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildTestElf, li, rv, words } from "../test-support/test-elf.js";
import { MAP, Machine } from "./machine.js";

const BASE = 0x8000_0000;
const MEMORY = 1 << 20;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

function firmware(code: Uint8Array): Machine {
  return Machine.create({
    mode: "firmware",
    memoryBytes: MEMORY,
    image: buildTestElf({ entry: BASE, segments: [{ paddr: BASE, data: code }] }),
    clock: "instructions",
  });
}

/** Runs until the budget is spent or the guest ends; any host exception fails the test. */
function runBounded(m: Machine, steps: number): void {
  for (let done = 0; done < steps; done += 100_000) {
    const exit = m.run(100_000);
    if (exit.kind !== "budget" && exit.kind !== "idle") break;
    if (exit.kind === "idle") m.clock.skipTo(m.clock.now() + 10_000);
  }
}

describe("guests cannot hurt the host", () => {
  it("survives random instruction words in every privilege mode, with random trap vectors and page tables", () => {
    let retired = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const next = lcg(seed);
      const code = new Uint32Array(MEMORY / 4);
      for (let i = 0; i < code.length; i++) code[i] = next();
      // Trap handlers that skip the trapping instruction, so execution keeps going through the
      // random stream: M at word 0, S at word 8 (csrr t0, xepc; addi t0, t0, 4; csrw xepc, t0; xret).
      code.set([0x341022f3, 0x00428293, 0x34129073, 0x30200073], 0);
      code.set([0x141022f3, 0x00428293, 0x14129073, 0x10200073], 8);
      const m = firmware(new Uint8Array(code.buffer));
      const hart = m.hart;
      // Start in M, S or U with random CSR state, so traps, delegation and Sv32 walks all get hit.
      hart.priv = ([0, 1, 3] as const)[seed % 3]!;
      hart.pc = (BASE + 64 + (next() & (MEMORY - 68))) | 0;
      hart.mtvec = BASE;
      hart.stvec = BASE + 32;
      hart.medeleg = next() & 0xb3ff;
      hart.mideleg = next() & 0x222;
      hart.mie = next() & 0xaaa;
      hart.csrWrite(0x180, 0x8000_0000 | ((BASE >>> 12) + (next() & 0xff)) | 0);
      expect(() => runBounded(m, 1_000_000)).not.toThrow();
      // It really executed: instructions retired or traps taken (a fetch-faulting loop is legal).
      expect(hart.retired > 0 || hart.mcause !== 0 || hart.scause !== 0).toBe(true);
      retired += hart.retired;
    }
    expect(retired).toBeGreaterThan(100_000);
  });

  it("survives random register writes and reads on every device", () => {
    const next = lcg(99);
    const regions = [
      { base: MAP.clint, size: 0x10000 },
      { base: MAP.plic, size: 0x400000 },
      { base: MAP.uart, size: 0x100 },
      { base: MAP.virtio, size: 8 * MAP.virtioStride },
    ];
    const code: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const r = regions[next() % regions.length]!;
      const addr = (r.base + (next() % r.size)) & ~3;
      code.push(...li(5, addr), ...li(6, next() | 0));
      // Stores of every width, and a load back (reads have side effects on some registers).
      const kind = next() % 4;
      if (kind === 0) code.push(rv.sw(6, 5, 0));
      else if (kind === 1)
        code.push((6 << 20) | (5 << 15) | (0 << 12) | 0x23); // sb
      else if (kind === 2)
        code.push((6 << 20) | (5 << 15) | (1 << 12) | 0x23); // sh
      else code.push((0 << 20) | (5 << 15) | (2 << 12) | (7 << 7) | 0x03); // lw t2, 0(t0)
    }
    code.push(rv.jal(0, 0));
    const dir = mkdtempSync(join(tmpdir(), "hv-fuzz-"));
    const disk = join(dir, "disk.img");
    writeFileSync(disk, new Uint8Array(64 * 1024));
    const m = Machine.create({
      mode: "firmware",
      memoryBytes: MEMORY,
      image: buildTestElf({ entry: BASE, segments: [{ paddr: BASE, data: words(...code) }] }),
      clock: "instructions",
      disks: [{ path: disk }],
      rng: true,
    });
    try {
      m.onConsoleOutput = () => {};
      expect(() => runBounded(m, 200_000)).not.toThrow();
      expect(m.hart.retired).toBeGreaterThan(code.length);
    } finally {
      m.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
