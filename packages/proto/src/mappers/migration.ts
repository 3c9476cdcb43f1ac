/**
 * The live-migration messages of the NodeAgent service in plain TypeScript terms, declared once
 * for the API, the agent and the CLI: phase, outcome and compression names, and the round and
 * result statistics a source reports, with their proto mappings.
 */
import {
  CompressionMode,
  MigrationOutcome,
  MigrationPhase,
  type MigrationResult,
  type MigrationRound,
  type MigrationStats,
} from "../generated/skiff/v1/migration.js";

/** "unknown": UNSPECIFIED, or a value this build does not know (a newer agent). */
export type MigrationPhaseName = "precopy" | "stopcopy" | "committing" | "unknown";

const PHASE_TO_PROTO: Readonly<Record<MigrationPhaseName, MigrationPhase>> = {
  precopy: MigrationPhase.MIGRATION_PHASE_PRECOPY,
  stopcopy: MigrationPhase.MIGRATION_PHASE_STOPCOPY,
  committing: MigrationPhase.MIGRATION_PHASE_COMMITTING,
  unknown: MigrationPhase.MIGRATION_PHASE_UNSPECIFIED,
};

export function migrationPhaseToProto(name: MigrationPhaseName): MigrationPhase {
  return PHASE_TO_PROTO[name];
}

export function migrationPhaseFromProto(phase: MigrationPhase): MigrationPhaseName {
  return nameOf(PHASE_TO_PROTO, phase, "unknown");
}

/** "unknown": UNSPECIFIED, or a value this build does not know. */
export type MigrationOutcomeName = "committed" | "rolled-back" | "in-doubt" | "unknown";

const OUTCOME_TO_PROTO: Readonly<Record<MigrationOutcomeName, MigrationOutcome>> = {
  committed: MigrationOutcome.MIGRATION_OUTCOME_COMMITTED,
  "rolled-back": MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK,
  "in-doubt": MigrationOutcome.MIGRATION_OUTCOME_IN_DOUBT,
  unknown: MigrationOutcome.MIGRATION_OUTCOME_UNSPECIFIED,
};

export function migrationOutcomeToProto(name: MigrationOutcomeName): MigrationOutcome {
  return OUTCOME_TO_PROTO[name];
}

export function migrationOutcomeFromProto(outcome: MigrationOutcome): MigrationOutcomeName {
  return nameOf(OUTCOME_TO_PROTO, outcome, "unknown");
}

/** How a migration compresses its batches (MigrationOptions.compression). */
export type CompressionModeName = "auto" | "never" | "always";

const COMPRESSION_TO_PROTO: Readonly<Record<CompressionModeName, CompressionMode>> = {
  auto: CompressionMode.COMPRESSION_MODE_AUTO,
  never: CompressionMode.COMPRESSION_MODE_NEVER,
  always: CompressionMode.COMPRESSION_MODE_ALWAYS,
};

export function compressionModeToProto(name: CompressionModeName): CompressionMode {
  return COMPRESSION_TO_PROTO[name];
}

/** AUTO is the proto default, and what an unknown value falls back to. */
export function compressionModeFromProto(mode: CompressionMode): CompressionModeName {
  return nameOf(COMPRESSION_TO_PROTO, mode, "auto");
}

/** One pre-copy (or the stop-and-copy) round as the source reports it (MigrationRound). */
export interface MigrationRoundInfo {
  readonly round: number;
  readonly phase: MigrationPhaseName;
  readonly pages: number;
  readonly zeroPages: number;
  readonly blocks: number;
  readonly bytes: number;
  readonly ms: number;
  readonly dirtyPagesPerSec: number;
  readonly throttlePercent: number;
  readonly bandwidthBytesPerSec: number;
}

export function migrationRoundFromProto(r: MigrationRound): MigrationRoundInfo {
  return {
    round: r.round,
    phase: migrationPhaseFromProto(r.phase),
    pages: r.pages,
    zeroPages: r.zeroPages,
    blocks: r.blocks,
    bytes: r.bytes,
    ms: r.ms,
    dirtyPagesPerSec: r.dirtyPagesPerSec,
    throttlePercent: r.throttlePercent,
    bandwidthBytesPerSec: r.bandwidthBytesPerSec,
  };
}

/** A finished migration's figures (MigrationStats). */
export interface MigrationStatsInfo {
  readonly rounds: readonly MigrationRoundInfo[];
  readonly downtimeMs: number;
  readonly totalMs: number;
  readonly bytesSent: number;
  readonly pagesSent: number;
  readonly zeroPagesSent: number;
  readonly nonzeroBytes: number;
  readonly diskBytesSent: number;
  readonly throughputBytesPerSec: number;
  readonly maxThrottlePercent: number;
  readonly targetEpoch: number;
  /** The destination opened the disk where it is (shared storage): no block was sent. */
  readonly diskInPlace: boolean;
}

export function migrationStatsFromProto(s: MigrationStats): MigrationStatsInfo {
  return {
    rounds: s.rounds.map(migrationRoundFromProto),
    downtimeMs: s.downtimeMs,
    totalMs: s.totalMs,
    bytesSent: s.bytesSent,
    pagesSent: s.pagesSent,
    zeroPagesSent: s.zeroPagesSent,
    nonzeroBytes: s.nonzeroBytes,
    diskBytesSent: s.diskBytesSent,
    throughputBytesPerSec: s.throughputBytesPerSec,
    maxThrottlePercent: s.maxThrottlePercent,
    targetEpoch: s.targetEpoch,
    diskInPlace: s.diskInPlace === true,
  };
}

/** How a migration ended (MigrationResult); errorCode is "" unless it failed. */
export interface MigrationResultInfo {
  readonly outcome: MigrationOutcomeName;
  readonly errorCode: string;
  readonly errorMessage: string;
  readonly stats: MigrationStatsInfo | null;
}

export function migrationResultFromProto(r: MigrationResult): MigrationResultInfo {
  return {
    outcome: migrationOutcomeFromProto(r.outcome),
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    stats: r.stats ? migrationStatsFromProto(r.stats) : null,
  };
}

function nameOf<N extends string, V>(table: Readonly<Record<N, V>>, value: V, fallback: N): N {
  for (const [name, v] of Object.entries(table) as [N, V][]) if (v === value) return name;
  return fallback;
}
