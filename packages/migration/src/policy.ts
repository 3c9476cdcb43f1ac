/**
 * When to stop pre-copying, and how hard to hold the guest back (auto-converge). Pure: fed the
 * figures of each finished round, it answers what to do next, so it can be tested on numbers.
 */

export interface ConvergenceLimits {
  /** Stop-and-copy once the remaining dirty data fits this at the measured bandwidth. */
  readonly maxDowntimeMs: number;
  /** Pre-copy rounds before stop-and-copy regardless of the downtime it will cost. */
  readonly maxRounds: number;
  /** Throttle the vCPU when the guest dirties faster than the link carries. */
  readonly autoConverge: boolean;
  /**
   * Time the pause itself costs beyond sending the data (device state, commit, restore): best
   * measured on this VM's last pause; default FIXED_DOWNTIME_MS. Planned with at most half the
   * downtime target, so one slow pause cannot leave the data no budget at all.
   */
  readonly fixedDowntimeMs?: number;
}

/** What one pre-copy round did. */
export interface RoundFigures {
  readonly round: number;
  /** Bytes the round put on the link. */
  readonly bytes: number;
  readonly ms: number;
  /** Pages and disk blocks dirty when the round ended (what the next round must send). */
  readonly remainingItems: number;
  /** Bytes the remaining items will cost on the link. */
  readonly remainingBytes: number;
  /** Bytes the guest dirtied per second while the round ran. */
  readonly dirtyBytesPerSec: number;
}

export type Decision =
  | { readonly action: "continue"; readonly throttlePercent: number }
  | {
      readonly action: "stop";
      readonly reason: "converged" | "max-rounds" | "not-converging";
      readonly throttlePercent: number;
    };

/**
 * QEMU's auto-converge steps (start at 20 %, add 10 % per step, never stop the vCPU entirely) are
 * the floor of each step; a guest far faster than the link is throttled further at once, see
 * nextThrottle.
 */
export const THROTTLE_INITIAL = 20;
export const THROTTLE_STEP = 10;
export const THROTTLE_MAX = 99;
/**
 * Auto-converge aims the guest's dirty rate at this share of the link, so each round leaves about
 * a quarter of the last one to send.
 */
export const TARGET_DIRTY_SHARE = 0.25;
/** The pause's cost beyond its data on a quiet host (measured: see docs/benchmarks.md). */
export const FIXED_DOWNTIME_MS = 5;
/** Rounds on which a round must shrink the dirty set by at least this share to count as progress. */
const SHRINK = 0.9;
/** A round smaller than this says more about latency than bandwidth: keep the older estimate. */
const MIN_SAMPLE_BYTES = 512 * 1024;

export class ConvergencePolicy {
  private bandwidth = 0;
  private throttle = 0;
  private stalled = 0;
  private hot = 0;
  private lastRemaining = Number.POSITIVE_INFINITY;
  private readonly fixedMs: number;

  constructor(private readonly limits: ConvergenceLimits) {
    this.fixedMs = Math.min(limits.fixedDowntimeMs ?? FIXED_DOWNTIME_MS, limits.maxDowntimeMs / 2);
  }

  /** Measured link bandwidth, bytes per second (0 before the first useful sample). */
  get bandwidthBytesPerSec(): number {
    return this.bandwidth;
  }

  get throttlePercent(): number {
    return this.throttle;
  }

  /** Expected stop-and-copy downtime for `bytes` at the measured bandwidth. */
  expectedDowntimeMs(bytes: number): number {
    const fixed = this.fixedMs;
    if (this.bandwidth <= 0) return bytes === 0 ? fixed : Number.POSITIVE_INFINITY;
    return fixed + (bytes / this.bandwidth) * 1000;
  }

  /** Takes a finished round's figures and says what to do next. */
  next(r: RoundFigures): Decision {
    if (r.ms > 0 && (r.bytes >= MIN_SAMPLE_BYTES || this.bandwidth === 0)) {
      const sample = (r.bytes / r.ms) * 1000;
      // Smooth a little: one slow round (a host hiccup) should not swing the decision.
      this.bandwidth = this.bandwidth === 0 ? sample : 0.5 * this.bandwidth + 0.5 * sample;
    }
    if (this.expectedDowntimeMs(r.remainingBytes) <= this.limits.maxDowntimeMs) {
      return { action: "stop", reason: "converged", throttlePercent: this.throttle };
    }
    if (r.round + 1 >= this.limits.maxRounds) {
      return { action: "stop", reason: "max-rounds", throttlePercent: this.throttle };
    }
    const shrinking = r.remainingItems <= this.lastRemaining * SHRINK;
    this.lastRemaining = r.remainingItems;
    this.stalled = shrinking ? 0 : this.stalled + 1;
    // The guest dirties more than half of what the link carries: it outruns the copy.
    this.hot = r.round >= 1 && r.dirtyBytesPerSec > 0.5 * this.bandwidth ? this.hot + 1 : 0;
    // Two hot rounds start the throttle (one burst should not); once throttled, every hot round
    // steps it up, so a guest far faster than the link does not take dozens of rounds to tame.
    const needHot = this.throttle === 0 ? 2 : 1;
    if (this.limits.autoConverge && (this.hot >= needHot || (this.stalled >= 2 && r.round >= 2))) {
      if (this.throttle < THROTTLE_MAX) {
        this.throttle = this.nextThrottle(r.dirtyBytesPerSec);
        this.hot = 0;
        this.stalled = 0;
        return { action: "continue", throttlePercent: this.throttle };
      }
    }
    if (this.stalled >= 3 && (!this.limits.autoConverge || this.throttle >= THROTTLE_MAX)) {
      return { action: "stop", reason: "not-converging", throttlePercent: this.throttle };
    }
    return { action: "continue", throttlePercent: this.throttle };
  }

  /**
   * The throttle that would bring the guest's dirty rate down to TARGET_DIRTY_SHARE of the link,
   * assuming the rate scales with the CPU share the guest gets; never less than QEMU's linear step.
   * A dirty rate measured on a working set the guest rewrites within a round is a floor of the
   * true rate, so this undershoots rather than overshoots, and the next hot round steps again:
   * a guest writing its whole working set every round reaches 99 % in three steps, not nine.
   */
  private nextThrottle(dirtyBytesPerSec: number): number {
    const linear = this.throttle === 0 ? THROTTLE_INITIAL : this.throttle + THROTTLE_STEP;
    const unthrottled = dirtyBytesPerSec / (1 - this.throttle / 100);
    const needed =
      unthrottled > 0 ? Math.ceil(100 * (1 - (TARGET_DIRTY_SHARE * this.bandwidth) / unthrottled)) : 0;
    return Math.min(THROTTLE_MAX, Math.max(linear, needed));
  }
}
