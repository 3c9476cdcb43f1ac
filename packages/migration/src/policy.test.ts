import { describe, expect, it } from "vitest";
import { ConvergencePolicy, THROTTLE_MAX } from "./policy.js";

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

  it("throttles as far as the guest outruns the link, never by less than QEMU's step", () => {
    const p = new ConvergencePolicy({ maxDowntimeMs: 30, maxRounds: 100, autoConverge: true });
    // The link carries 200 MB/s; the guest dirties 150 MB/s, whatever it is allowed (a working set
    // rewritten every round looks the same at any throttle).
    p.next(round(0, 60, 150));
    expect(p.next(round(1, 60, 150))).toEqual({ action: "continue", throttlePercent: 0 });
    // To dirty 50 MB/s (a quarter of the link) it may run a third of the time: 67 %.
    expect(p.next(round(2, 60, 150))).toEqual({ action: "continue", throttlePercent: 67 });
    // Still 150 MB/s at a third of the CPU: 454 MB/s unthrottled, 89 %; then QEMU's step, to the cap.
    expect(p.next(round(3, 60, 150)).throttlePercent).toBe(89);
    expect(p.next(round(4, 60, 150)).throttlePercent).toBe(THROTTLE_MAX);
  });

  it("throttles a guest a little too fast just enough, then by QEMU's steps while rounds stall", () => {
    const p = new ConvergencePolicy({ maxDowntimeMs: 30, maxRounds: 100, autoConverge: true });
    const seen: number[] = [];
    // 110 MB/s against 200 MB/s: hot (over half the link); its rate falls as it is throttled.
    let dirty = 110;
    for (let r = 0; r < 12; r++) {
      const d = p.next(round(r, 60, dirty));
      seen.push(d.throttlePercent);
      dirty = 110 * (1 - d.throttlePercent / 100);
    }
    // 55 % brings it to a quarter of the link; then it is no longer hot, but the rounds do not
    // shrink (60 MB left each time), and every second stalled round adds QEMU's 10 %.
    expect(seen).toEqual([0, 0, 55, 55, 65, 65, 75, 75, 85, 85, 95, 95]);
  });

  it("gives up on rounds that stop shrinking when it may not throttle", () => {
    const p = new ConvergencePolicy({ maxDowntimeMs: 30, maxRounds: 100, autoConverge: false });
    const decisions = [0, 1, 2, 3, 4, 5].map((r) => p.next(round(r, 60, 20)));
    expect(decisions.at(-1)).toMatchObject({ action: "stop", reason: "not-converging" });
    expect(decisions.every((d) => d.throttlePercent === 0)).toBe(true);
  });

  it("plans the last round with the pause's measured fixed cost, at most half the target", () => {
    // 200 MB/s: 5 MB = 25 ms of data, 3 MB = 15 ms.
    const plan = (fixedDowntimeMs: number, remainingMB: number) =>
      new ConvergencePolicy({ maxDowntimeMs: 40, maxRounds: 30, autoConverge: true, fixedDowntimeMs }).next(
        round(0, remainingMB, 5),
      ).action;
    expect(plan(14, 5)).toBe("stop");
    expect(plan(16, 5)).toBe("continue");
    // A slow last pause (80 ms) still leaves the data half the target.
    expect(plan(80, 3)).toBe("stop");
  });
});
