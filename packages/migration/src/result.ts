/** A source's MigrationReport as the NodeAgent service sends it (MigrationResult). */
import { type MigrationResult, migrationOutcomeToProto } from "@skiff/proto";
import type { MigrationReport } from "./report.js";

export function migrationResultToProto(r: MigrationReport): MigrationResult {
  return {
    outcome: migrationOutcomeToProto(r.outcome),
    errorCode: r.error?.code ?? "",
    errorMessage: r.error?.message ?? "",
    stats: {
      rounds: r.rounds.map((x) => ({ ...x })),
      downtimeMs: r.downtimeMs,
      totalMs: r.totalMs,
      bytesSent: r.bytesSent,
      pagesSent: r.pagesSent,
      zeroPagesSent: r.zeroPagesSent,
      nonzeroBytes: r.nonZeroBytes,
      diskBytesSent: r.diskBytesSent,
      throughputBytesPerSec: r.throughputBytesPerSec,
      maxThrottlePercent: r.maxThrottlePercent,
      targetEpoch: r.targetEpoch,
      ...(r.diskInPlace !== undefined ? { diskInPlace: r.diskInPlace } : {}),
      ...(r.stopCopy ? { stopCopy: r.stopCopy } : {}),
    },
  };
}
