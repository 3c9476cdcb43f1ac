import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Machine } from "./machine.js";

const guest = readFileSync(new URL("../../test-guests/determinism.elf", import.meta.url));

function boot(): Machine {
  return Machine.create({ mode: "firmware", memoryBytes: 4 << 20, image: guest, clock: "instructions" });
}

describe("Machine.run with yieldNow", () => {
  it("ends the run after the slice in which the caller says so, and runs the whole budget otherwise", () => {
    const m = boot();
    const seen: number[] = [];
    const exit = m.run(1_000_000, () => {
      seen.push(m.instret);
      return seen.length === 2;
    });
    expect(exit.kind).toBe("budget");
    expect(m.instret).toBe(seen[1]);
    expect(seen[1]).toBeLessThan(1_000_000);

    const whole = boot();
    let asked = 0;
    whole.run(200_000, () => {
      asked++;
      return false;
    });
    expect(asked).toBeGreaterThan(1);
    const reference = boot();
    reference.run(200_000);
    // Asking changes nothing the guest can see: the same state as a run without the question.
    expect(Buffer.compare(whole.snapshot(), reference.snapshot())).toBe(0);
  });
});
