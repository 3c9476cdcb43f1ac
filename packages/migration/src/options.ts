/**
 * A migration's tunables and their defaults, in one table: the sender, the agent reading
 * MigrationOptions off the wire and the control plane all resolve them here.
 */
import { type CompressionModeName, compressionModeFromProto, type MigrationOptions } from "@skiff/proto";

export interface MigrationSettings {
  /** Stop-and-copy once the rest fits this at the measured bandwidth. */
  readonly maxDowntimeMs: number;
  /** Bytes/s, 0 = no cap. */
  readonly bandwidthBytesPerSec: number;
  /** Pre-copy rounds before stop-and-copy regardless. */
  readonly maxRounds: number;
  /** The whole migration, or it rolls back. */
  readonly timeoutMs: number;
  /** Throttle the vCPU when the guest dirties pages faster than the link sends them. */
  readonly autoConverge: boolean;
  readonly compression: CompressionModeName;
}

export const MIGRATION_DEFAULTS: MigrationSettings = {
  maxDowntimeMs: 30,
  bandwidthBytesPerSec: 0,
  maxRounds: 30,
  timeoutMs: 300_000,
  autoConverge: true,
  compression: "auto",
};

/** Unset (or 0, the proto's "unset") fields take the default. */
export function resolveMigrationSettings(given: Partial<MigrationSettings> = {}): MigrationSettings {
  const d = MIGRATION_DEFAULTS;
  return {
    maxDowntimeMs: given.maxDowntimeMs || d.maxDowntimeMs,
    bandwidthBytesPerSec: given.bandwidthBytesPerSec ?? d.bandwidthBytesPerSec,
    maxRounds: given.maxRounds || d.maxRounds,
    timeoutMs: given.timeoutMs || d.timeoutMs,
    autoConverge: given.autoConverge ?? d.autoConverge,
    compression: given.compression ?? d.compression,
  };
}

export function migrationSettingsFromProto(o: MigrationOptions | undefined): MigrationSettings {
  return resolveMigrationSettings({
    maxDowntimeMs: o?.maxDowntimeMs,
    bandwidthBytesPerSec: o?.bandwidthBytesPerSec,
    maxRounds: o?.maxRounds,
    timeoutMs: o?.timeoutMs,
    autoConverge: !(o?.disableAutoConverge ?? false),
    compression: o ? compressionModeFromProto(o.compression) : undefined,
  });
}
