/**
 * The migration stream format (the records are the protobuf messages of
 * packages/proto/proto/skiff/v1/migration.proto). Versioned by FORMAT_VERSION in the hello: a
 * destination refuses a version it does not speak, so both ends must be upgraded before the
 * format changes meaning.
 */
import { SkiffError } from "@skiff/common";

export const FORMAT_VERSION = 1;
export const PAGE_SIZE = 4096;
export const DISK_BLOCK_SIZE = 4096;
/** Pages (or disk blocks) per batch record: 1 MiB of data, large enough to amortize gRPC framing. */
export const BATCH_ITEMS = 256;
/** Largest record either end accepts (a full batch plus its index lists, with room to spare). */
export const MAX_RECORD_BYTES = 8 * 1024 * 1024;

/** Why a migration failed, as codes (SkiffError.code) the control plane can act on. */
export const MigrationErrorCode = {
  /** A record was malformed, unknown or out of order. */
  PROTOCOL: "MIGRATION_PROTOCOL",
  /** The destination refused the hello (token, version, size, epoch). */
  REFUSED: "MIGRATION_TARGET_REFUSED",
  /** The stream ended or broke before the commit. */
  STREAM_BROKEN: "MIGRATION_STREAM_BROKEN",
  /** The sender waited on the stream and nothing moved for too long (a dead peer, no error). */
  STREAM_STALLED: "MIGRATION_STREAM_STALLED",
  /** The destination's checks at commit did not hold. */
  VERIFY_FAILED: "MIGRATION_VERIFY_FAILED",
  TIMEOUT: "MIGRATION_TIMEOUT",
  CANCELLED: "MIGRATION_CANCELLED",
  /** The source sent `abort`. */
  ABORTED: "MIGRATION_ABORTED",
  /** The destination could not restore or persist the VM. */
  TARGET_FAILED: "MIGRATION_TARGET_FAILED",
  /** The commit was sent and its answer lost. */
  IN_DOUBT: "MIGRATION_IN_DOUBT",
} as const;
export type MigrationErrorCode = (typeof MigrationErrorCode)[keyof typeof MigrationErrorCode];

export function migrationError(
  code: MigrationErrorCode,
  message: string,
  details?: Record<string, unknown>,
): SkiffError {
  return new SkiffError(code, message, details);
}
