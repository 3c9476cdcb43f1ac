/**
 * Live-migration operations of the VMM control protocol (protocol.ts merges them into VmmOps).
 * Outgoing: the source agent asks its VMM to stream the guest to a prepared destination. Incoming:
 * a VMM started with --incoming waits for that stream and commits the VM on this node.
 */
import type { MigrationReport, MigrationSettings, RoundReport } from "@skiff/migration";
import type { TlsFiles } from "@skiff/pki";
import type { VmRecord } from "../vm/record.js";

/** States a VMM passes through only for migration. */
export type MigrationVmmState = "incoming";

/** A pre-copy round as it travels to the agent (plain JSON). */
export type RoundProgress = RoundReport;

export interface MigrateOutArgs extends MigrationSettings {
  readonly migrationId: string;
  readonly targetAddress: string;
  readonly token: string;
  readonly sourceEpoch: number;
  readonly targetEpoch: number;
  /**
   * Mutual TLS for the stream (absent: plaintext). The VMM reads the files when it starts the
   * stream, so a renewed certificate is used from the next migration on.
   */
  readonly tls?: StreamTls;
}

export interface StreamTls {
  readonly files: TlsFiles;
  /** The node the destination's certificate must name ("": any node of the region). */
  readonly targetNode: string;
}

export interface MigrationVmmOps {
  /**
   * Streams the guest to the destination. Resolves when it ended: committed (the VMM then exits
   * with reason "migrated"), rolled back (the guest runs on here), or in-doubt (held paused until
   * migrateResolve). Progress rounds arrive as `migration` messages on the same connection; if that
   * connection closes before the commit is sent, the migration rolls back.
   */
  migrateOut: { args: MigrateOutArgs; result: MigrationReport };
  /** Rolls back the running outgoing migration (no effect once the commit is sent). */
  migrateCancel: { args: { migrationId: string }; result: { cancelled: boolean } };
  /** Settles an in-doubt migration: committed drops this copy (the VMM exits); else it resumes. */
  migrateResolve: { args: { migrationId: string; committed: boolean }; result: { resumed: boolean } };
  /**
   * The agent's supervising connection of an incoming VMM: if it closes before the commit, the
   * incoming migration is abandoned. Returns where the stream is served.
   */
  incomingAttach: { args: Record<string, never>; result: { port: number } };
  /** Abandons the incoming migration unless it committed (atomic with the commit). */
  incomingAbort: { args: { migrationId: string }; result: { committed: boolean } };
  /** The agent took the committed VM into its registry: the source may now be told. */
  incomingAdopted: { args: Record<string, never>; result: Record<string, never> };
}

/** vms/<id>/incoming.json: what an incoming VMM needs (written by the destination agent). */
export interface IncomingPlan {
  readonly version: 1;
  readonly migrationId: string;
  readonly token: string;
  /** Address the stream server binds (the agent's HOST). */
  readonly host: string;
  /** This node's certificate files; the stream is plaintext without them. */
  readonly tls?: TlsFiles;
  /** Discard the shell if no stream arrives within this. */
  readonly timeoutMs: number;
  /** The VM record to commit (epoch = the target epoch). */
  readonly record: VmRecord;
}
