import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "./machine.js";

const guest = readFileSync(new URL("../../test-guests/determinism.elf", import.meta.url));

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
    for (let i = 0; i < 40; i++) {
      reference.run(1 + Math.floor(random() * 200_000));
      const snap = reference.snapshot();
      const copy = Machine.restore(snap);
      expectSameBytes(copy.snapshot(), snap);
      const steps = 1 + Math.floor(random() * 50_000);
      const a = reference.run(steps);
      const b = copy.run(steps);
      expect(b).toEqual(a);
      expectSameBytes(copy.snapshot(), reference.snapshot());
    }
    // The workload really ran: timer interrupts, console output and stores all happened.
    expect(reference.instret).toBeGreaterThan(1_000_000);
    expect(output).toBeGreaterThan(0);
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
