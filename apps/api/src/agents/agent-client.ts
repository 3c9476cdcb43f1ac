import { SkiffError } from "@skiff/common";
import type {
  MigrationResultInfo,
  MigrationRoundInfo,
  NetworkMap,
  VmStateName as ProtoVmStateName,
  VmSpecInput,
} from "@skiff/proto";

/**
 * What the control plane needs from a node agent, in its own terms. The gRPC implementation is
 * in grpc-agent.ts; workers depend only on this interface.
 */

/** A VM's state as its agent reports it; "unknown" when the agent is newer than this build. */
export type VmStateName = ProtoVmStateName | "unknown";

/** The VM spec of CreateVm and PrepareMigrationTarget, declared once in packages/proto. */
export type { VmSpecInput };

export interface VmRef {
  readonly vmId: string;
  readonly epoch: number;
}

export interface VmStatus {
  readonly vmId: string;
  readonly epoch: number;
  readonly state: VmStateName;
  readonly lastExit: string;
}

export interface AgentClient {
  createVm(ref: VmRef, spec: VmSpecInput, start: boolean): Promise<VmStatus>;
  startVm(ref: VmRef): Promise<VmStatus>;
  stopVm(ref: VmRef, opts?: { force?: boolean; timeoutMs?: number }): Promise<VmStatus>;
  rebootVm(ref: VmRef): Promise<VmStatus>;
  pauseVm(ref: VmRef): Promise<VmStatus>;
  resumeVm(ref: VmRef): Promise<VmStatus>;
  suspendVm(ref: VmRef): Promise<VmStatus>;
  resumeSuspendedVm(ref: VmRef): Promise<VmStatus>;
  /**
   * Destroys the node's VM. A disk on shared storage stays, unless `deleteDisk` (the VPS itself is
   * deleted; refused as STALE_EPOCH if a newer epoch owns the disk). A VM the node does not hold
   * is fine (with `deleteDisk`, any node on that storage can remove the disk).
   */
  destroyVm(ref: VmRef, opts?: { deleteDisk?: boolean }): Promise<void>;
  /** null when the agent has no such VM. */
  getVm(vmId: string): Promise<VmStatus | null>;
  /** The VM's serial console: replayed screen first, then live output. */
  openConsole(ref: VmRef, opts: { readOnly: boolean; skipReplay: boolean }): ConsoleSession;

  // Live migration (packages/migration/README.md): destination side, then source side.
  prepareMigrationTarget(
    ref: VmRef,
    spec: VmSpecInput,
    migrationId: string,
  ): Promise<{ streamAddress: string; token: string }>;
  /** Source: runs the migration; yields a progress entry per round, then exactly one result. */
  migrateVm(req: MigrateVmInput): AsyncIterable<MigrationProgress>;
  cancelMigration(vmId: string, migrationId: string): Promise<boolean>;
  /** Destination: discards a prepared or incoming shell unless it committed (then says so). */
  abortMigrationTarget(
    vmId: string,
    migrationId: string,
  ): Promise<{ committed: boolean; vm: VmStatus | null }>;
  /** Source: settles an in-doubt migration (committed: drop the copy; else resume it). */
  resolveMigration(ref: VmRef, migrationId: string, committed: boolean): Promise<VmStatus | null>;

  /**
   * Cold move, destination side: takes in a VM no VMM runs, pulling its files from the source
   * agent. Once it answered, the VM is there at `ref.epoch`; AbortMigrationTarget discards an
   * import that has not finished and says whether it had.
   */
  importVm(req: ImportVmInput): Promise<{ vm: VmStatus; bytesCopied: number; diskInPlace: boolean }>;
  /** A stopped VM's memory, CPU cap and disk size (unset: unchanged; a disk only grows). */
  resizeVm(
    ref: VmRef,
    change: { memoryBytes?: number; cpuMillis?: number; diskBytes?: number },
  ): Promise<VmStatus>;

  /** A snapshot of the VM's disk (a running guest pauses for the copy only). */
  snapshotDisk(
    ref: VmRef,
    snapshotId: string,
  ): Promise<{ path: string; sizeBytes: number; pausedMs: number }>;
  /** A stopped VM's disk back to the snapshot's content. */
  restoreDiskSnapshot(ref: VmRef, snapshotId: string): Promise<VmStatus>;
  /** Removes a snapshot (false: the node did not hold it). */
  deleteDiskSnapshot(snapshotId: string): Promise<boolean>;

  /** Replaces the node switch's network map; returns the version the switch holds afterwards. */
  applyNetworkMap(map: NetworkMap): Promise<number>;
}

export interface ImportVmInput {
  /** The VM at the epoch it gets on the destination. */
  readonly ref: VmRef;
  readonly spec: VmSpecInput;
  readonly migrationId: string;
  readonly sourceAgentAddress: string;
  readonly sourceEpoch: number;
  /** The source node's name (its agent's certificate must carry it). */
  readonly sourceNode: string;
}

export type IdentityCheck = "proven" | "refused" | "unverified";

export interface MigrateVmInput {
  readonly ref: VmRef;
  readonly migrationId: string;
  readonly targetStreamAddress: string;
  readonly token: string;
  readonly targetEpoch: number;
  readonly targetAgentAddress: string;
  /** The destination node's name: the source refuses a destination whose certificate names another. */
  readonly targetNode: string;
  /** Unset: the agent's default (packages/migration MIGRATION_DEFAULTS). */
  readonly options: {
    readonly maxDowntimeMs?: number;
    readonly bandwidthBytesPerSec?: number;
    readonly maxRounds?: number;
    readonly timeoutMs?: number;
  };
}

/** A round and a result as packages/proto declares them (shared with the agent and the CLI). */
export type { MigrationResultInfo, MigrationRoundInfo };

export type MigrationProgress =
  | { readonly kind: "round"; readonly round: MigrationRoundInfo }
  /** The source paused the guest (stopcopy) or sent the commit (committing). */
  | { readonly kind: "phase"; readonly phase: MigrationRoundInfo["phase"] }
  | { readonly kind: "result"; readonly result: MigrationResultInfo };

export interface ConsoleSession {
  onOutput(cb: (bytes: Uint8Array) => void): void;
  /** The VM changed state (the stream ends after a terminal one). */
  onState(cb: (state: VmStateName) => void): void;
  /** The stream ended; `error` when it failed. */
  onEnd(cb: (error?: AgentCallError) => void): void;
  input(bytes: Uint8Array): void;
  sendBreak(): void;
  close(): void;
}

/** Finds the agent of a node (clients are cached per node address). */
export interface AgentDirectory {
  /** The client of a node's agent; with TLS its certificate must name `name`. */
  forNode(node: { readonly id: string; readonly name: string; readonly grpcAddress: string }): AgentClient;
  /**
   * Whether the agent answering at `grpcAddress` holds a certificate naming `name`: `refused` when
   * it names another node, `unverified` when nothing answered (or TLS is off).
   */
  verifyIdentity?(node: { readonly name: string; readonly grpcAddress: string }): Promise<IdentityCheck>;
  /** Drops the clients of node `name` (it was revoked: the next call must handshake again). */
  forget?(name: string): void;
  close(): void;
}

/**
 * An agent refused or could not be reached. `code` is the agent's own code when it sent one
 * (STALE_EPOCH, VM_NOT_FOUND, INVALID_TRANSITION, VM_EXISTS) or AGENT_UNAVAILABLE / AGENT_ERROR.
 * `retryable` says whether trying again later can help.
 */
export class AgentCallError extends SkiffError {
  constructor(
    code: string,
    message: string,
    readonly retryable: boolean,
    details?: Record<string, unknown>,
  ) {
    super(code, message, details);
    this.name = "AgentCallError";
  }
}

export function isAgentError(err: unknown, code?: string): err is AgentCallError {
  return err instanceof AgentCallError && (code === undefined || err.code === code);
}
