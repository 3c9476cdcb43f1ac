/**
 * The short chaos run `npm test` makes on every landing: a real region, a seeded fault schedule,
 * and the invariants (one copy of every VPS, where the database places it; guests keep their state;
 * every migration ends with a reason; no 5xx outside declared outages; nothing left behind). The
 * long runs are `pnpm chaos`, with their figures in docs/benchmarks.md.
 */
import { builtForTests } from "@skiff/devkit";
import { describe, expect, it } from "vitest";
import { REGION_BUILT, root } from "./region.js";
import { runChaos } from "./run.js";

const built = builtForTests(root, REGION_BUILT);

describe.skipIf(!built)("chaos (short seeded run)", () => {
  it("keeps every VPS exactly once and every guest intact through faults and migrations", async () => {
    const seed = Number(process.env.SKIFF_TEST_SEED ?? 20261207);
    const report = await runChaos({
      seed,
      minutes: Number(process.env.SKIFF_CHAOS_MINUTES ?? 1),
      vpses: 8,
      minFaults: 4,
      log: (l) => console.log(`[chaos] ${l}`),
    });
    console.log(JSON.stringify(report));
    expect(report.violations).toEqual([]);
    expect(report.lostVps + report.doubledVps + report.guestStateLosses).toBe(0);
    // The run did what it claims: migrations of every kind of trigger it drives, and faults.
    expect(report.migrations).toBeGreaterThanOrEqual(6);
    expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4);
  }, 900_000);
});
