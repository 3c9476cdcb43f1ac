import { describe, expect, it } from "vitest";
import { ConvergencePolicy, THROTTLE_INITIAL, THROTTLE_MAX, THROTTLE_STEP } from "./policy.js";

const MB = 1_000_000;
const round = (r: number, remainingMB: number, dirtyMBps: number, bytesMB = 100, ms = 500) => ({
  round: r,
  bytes: bytesMB * MB,
  ms,
  remainingItems: Math.round((remainingMB * MB) / 4096),
  remainingBytes: remainingMB * MB,
  dirtyBytesPerSec: dirtyMBps * MB,
});

describe("convergence policy", () => {
  it("stops once the rest fits the downtime target at the measured bandwidth", () => {
    const p = new ConvergencePolicy({ maxDowntimeMs: 30, maxRounds: 30, autoConverge: true });
    // 100 MB in 500 ms = 200 MB/s; 10 MB would take 50 ms: go on.
    expect(p.next(round(0, 10, 5)).action).toBe("continue");
    expect(p.bandwidthBytesPerSec).toBeCloseTo(200 * MB);
    // 4 MB = 20 ms + 5 ms fixed: stop.
    expect(p.next(round(1, 4, 5))).toEqual({ action: "stop", reason: "converged", throttlePercent: 0 });
  });

  it("stops after the round limit", () => {
    const p = new ConvergencePolicy({ maxDowntimeMs: 1, maxRounds: 3, autoConverge: false });
    expect(p.next(round(0, 50, 1)).action).toBe("continue");
    expect(p.next(round(1, 40, 1)).action).toBe("continue");
    expect(p.next(round(2, 30, 1))).toMatchObject({ action: "stop", reason: "max-rounds" });
  });

  it("throttles step by step while the guest dirties faster than the link carries", () => {
    const p = new ConvergencePolicy({ maxDowntimeMs: 30, maxRounds: 100, autoConverge: true });
    p.next(round(0, 60, 150));
    expect(p.next(round(1, 60, 150))).toEqual({ action: "continue", throttlePercent: 0 });
    expect(p.next(round(2, 60, 150))).toEqual({ action: "continue", throttlePercent: THROTTLE_INITIAL });
    let last = THROTTLE_INITIAL;
    for (let r = 3; r < 60; r++) {
      const d = p.next(round(r, 60, 150));
      expect(d.throttlePercent).toBeGreaterThanOrEqual(last);
      expect(
        d.throttlePercent - last === 0 ||
          d.throttlePercent - last === THROTTLE_STEP ||
          d.throttlePercent === THROTTLE_MAX,
      ).toBe(true);
      last = d.throttlePercent;
      if (d.action === "stop") break;
    }
    expect(last).toBe(THROTTLE_MAX);
  });

  it("gives up on rounds that stop shrinking when it may not throttle", () => {
    const p = new ConvergencePolicy({ maxDowntimeMs: 30, maxRounds: 100, autoConverge: false });
    const decisions = [0, 1, 2, 3, 4, 5].map((r) => p.next(round(r, 60, 20)));
    expect(decisions.at(-1)).toMatchObject({ action: "stop", reason: "not-converging" });
    expect(decisions.every((d) => d.throttlePercent === 0)).toBe(true);
  });
});
