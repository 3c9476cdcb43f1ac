/**
 * What a migration source counts and reports: per round (RoundReport, the MigrationRound
 * message) and for the whole migration (MigrationReport), kept by SenderCounters so the sender
 * only says what it sent.
 */
import type { MigrationOutcomeName, MigrationPhase, MigrationRound, StopCopyBreakdown } from "@skiff/proto";

/** A round as the source reports it: the MigrationRound message itself. */
export type RoundReport = MigrationRound;

/** How a migration ended, as the source knows it. */
export type MigrationEnd = Exclude<MigrationOutcomeName, "unknown">;

export interface MigrationReport {
  readonly outcome: MigrationEnd;
  readonly error?: { readonly code: string; readonly message: string };
  readonly rounds: RoundReport[];
  /** Source pause to the destination's first guest instruction (committed only). */
  readonly downtimeMs: number;
  readonly totalMs: number;
  readonly bytesSent: number;
  readonly pagesSent: number;
  readonly zeroPagesSent: number;
  /** Non-zero guest RAM when the migration started. */
  readonly nonZeroBytes: number;
  readonly diskBytesSent: number;
  /** Page and block bytes over the time spent sending them. */
  readonly throughputBytesPerSec: number;
  readonly maxThrottlePercent: number;
  readonly targetEpoch: number;
  readonly stopReason: string;
  /** The destination opened the disk where it is (shared storage): no block was sent. */
  readonly diskInPlace?: boolean;
  /** Where the downtime went, hop by hop (committed only). */
  readonly stopCopy?: StopCopyTimes;
}

/** Where a committed migration's pause went (ms after the source's vCPU stopped): the StopCopyBreakdown message. */
export type StopCopyTimes = StopCopyBreakdown;

/** What one round sent so far. */
export interface RoundTally {
  pages: number;
  zeroPages: number;
  blocks: number;
  bytes: number;
}

export function emptyTally(): RoundTally {
  return { pages: 0, zeroPages: 0, blocks: 0, bytes: 0 };
}

/** The report's fields that are not counts: how and when it ended. */
type ReportEnd = Pick<
  MigrationReport,
  "outcome" | "error" | "downtimeMs" | "totalMs" | "targetEpoch" | "stopReason" | "diskInPlace" | "stopCopy"
>;

/** The counters of one migration source, from the first record to its report. */
export class SenderCounters {
  /** Records sent, of every kind. */
  records = 0;
  bytesSent = 0;
  /** Page and block bytes before compression. */
  payloadBytes = 0;
  /** Time spent in rounds (sending), for the throughput. */
  sendingMs = 0;
  pagesSent = 0;
  zeroPagesSent = 0;
  diskBytesSent = 0;
  nonZeroBytes = 0;
  maxThrottlePercent = 0;
  /** The throttle in force now. */
  throttlePercent = 0;
  readonly rounds: RoundReport[] = [];

  recordSent(bytes: number): void {
    this.records++;
    this.bytesSent += bytes;
  }

  /** A batch of `items` data and `zeros` zero markers went out as `wireBytes` (`rawBytes` before compression). */
  batchSent(
    tally: RoundTally,
    kind: "pages" | "disk",
    items: number,
    zeros: number,
    wireBytes: number,
    rawBytes: number,
  ): void {
    tally.bytes += wireBytes;
    this.payloadBytes += rawBytes;
    if (kind === "pages") {
      tally.pages += items;
      tally.zeroPages += zeros;
      this.pagesSent += items;
      this.zeroPagesSent += zeros;
    } else {
      tally.blocks += items + zeros;
      this.diskBytesSent += wireBytes;
    }
  }

  /** Sets the throttle; true when it changed (the vCPU must be told). */
  throttleChanged(percent: number): boolean {
    if (percent === this.throttlePercent) return false;
    this.throttlePercent = percent;
    this.maxThrottlePercent = Math.max(this.maxThrottlePercent, percent);
    return true;
  }

  addRound(
    round: number,
    phase: MigrationPhase,
    t: RoundTally,
    ms: number,
    dirtyPagesPerSec: number,
    bandwidthBytesPerSec: number,
  ): RoundReport {
    const r: RoundReport = {
      round,
      phase,
      pages: t.pages,
      zeroPages: t.zeroPages,
      blocks: t.blocks,
      bytes: t.bytes,
      ms,
      dirtyPagesPerSec,
      throttlePercent: this.throttlePercent,
      bandwidthBytesPerSec,
    };
    this.rounds.push(r);
    return r;
  }

  report(end: ReportEnd): MigrationReport {
    return {
      outcome: end.outcome,
      ...(end.error ? { error: end.error } : {}),
      rounds: this.rounds,
      downtimeMs: end.downtimeMs,
      totalMs: end.totalMs,
      bytesSent: this.bytesSent,
      pagesSent: this.pagesSent,
      zeroPagesSent: this.zeroPagesSent,
      nonZeroBytes: this.nonZeroBytes,
      diskBytesSent: this.diskBytesSent,
      throughputBytesPerSec: this.sendingMs > 0 ? (this.payloadBytes / this.sendingMs) * 1000 : 0,
      maxThrottlePercent: this.maxThrottlePercent,
      targetEpoch: end.targetEpoch,
      stopReason: end.stopReason,
      ...(end.diskInPlace !== undefined ? { diskInPlace: end.diskInPlace } : {}),
      ...(end.stopCopy ? { stopCopy: end.stopCopy } : {}),
    };
  }
}
