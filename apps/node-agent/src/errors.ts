/**
 * The agent's error catalogue: every code the agent and its VMMs raise, the gRPC status a caller
 * sees for it and what it means. Raise through `agentError`; grpc/errors.ts renders the status.
 * Codes are stable (the control plane matches on them); messages at the raise site are for people.
 * The statuses are names, not grpc-js values, so the VMM process does not load gRPC.
 */
import type { status } from "@grpc/grpc-js";
import { SkiffError } from "@skiff/common";

export type GrpcStatusName = keyof typeof status;

interface CatalogueEntry {
  readonly grpc: GrpcStatusName;
  readonly meaning: string;
}

export const AGENT_ERRORS = {
  // The request itself.
  UNAUTHENTICATED: { grpc: "UNAUTHENTICATED", meaning: "missing or wrong agent token" },
  CALLER_NOT_ALLOWED: {
    grpc: "PERMISSION_DENIED",
    meaning: "the caller's certificate may not make this call (only the API drives an agent)",
  },
  INVALID_ARGUMENT: {
    grpc: "INVALID_ARGUMENT",
    meaning: "a field of the request is missing or out of range",
  },
  CONFIG_INVALID: { grpc: "INVALID_ARGUMENT", meaning: "the agent's environment configuration is invalid" },
  // The VM and its lifecycle.
  VM_NOT_FOUND: { grpc: "NOT_FOUND", meaning: "this node holds no such VM" },
  VM_EXISTS: { grpc: "ALREADY_EXISTS", meaning: "the VM exists on this node already" },
  STALE_EPOCH: { grpc: "FAILED_PRECONDITION", meaning: "a newer epoch of the VM (or its disk) exists" },
  INVALID_TRANSITION: {
    grpc: "FAILED_PRECONDITION",
    meaning: "the command is not allowed in the VM's state",
  },
  VM_NOT_RUNNING: { grpc: "FAILED_PRECONDITION", meaning: "the VM has no running VMM" },
  SNAPSHOT_MISSING: { grpc: "FAILED_PRECONDITION", meaning: "a suspended VM's snapshot is gone" },
  SNAPSHOT_NOT_FOUND: { grpc: "NOT_FOUND", meaning: "this node holds no such disk snapshot" },
  VM_CREATE_FAILED: {
    grpc: "FAILED_PRECONDITION",
    meaning: "the VM could not be made (disk copy or first boot failed); nothing is left behind",
  },
  VM_RECORD_CORRUPT: { grpc: "DATA_LOSS", meaning: "the VM's config.json cannot be read" },
  // Storage.
  DISK_NOT_FOUND: { grpc: "NOT_FOUND", meaning: "the VPS's disk must exist on shared storage and does not" },
  SHARED_STORAGE_UNUSABLE: {
    grpc: "FAILED_PRECONDITION",
    meaning: "the shared storage directory is unusable",
  },
  // The agent and its VMMs.
  AGENT_SHUTTING_DOWN: { grpc: "UNAVAILABLE", meaning: "the agent is stopping and takes no new calls" },
  VMM_GONE: { grpc: "UNAVAILABLE", meaning: "the VM's VMM went away during the call" },
  VMM_TIMEOUT: { grpc: "DEADLINE_EXCEEDED", meaning: "the VMM did not answer in time" },
  VMM_UNREACHABLE: { grpc: "INTERNAL", meaning: "the VMM's control socket does not answer" },
  VMM_SPAWN_FAILED: { grpc: "INTERNAL", meaning: "the VMM process could not be started" },
  VMM_BOOT_FAILED: { grpc: "INTERNAL", meaning: "the VMM exited before its guest was up" },
  VMM_PROTOCOL: { grpc: "INTERNAL", meaning: "a malformed message on the VMM control socket" },
  VMM_UNKNOWN_OP: { grpc: "UNIMPLEMENTED", meaning: "the VMM does not know the requested operation" },
  VMM_INVALID_STATE: { grpc: "FAILED_PRECONDITION", meaning: "the VMM cannot do that in its current state" },
  VMM_GUEST_ENDED: { grpc: "FAILED_PRECONDITION", meaning: "the guest ended while the call waited on it" },
  VMM_SNAPSHOT_FAILED: { grpc: "INTERNAL", meaning: "the vCPU produced no snapshot" },
  VMM_RESTORE_FAILED: { grpc: "DATA_LOSS", meaning: "the saved guest state does not restore" },
  VMM_ERROR: { grpc: "INTERNAL", meaning: "the VMM failed without a code of its own" },
  CONSOLE_TOO_SLOW: { grpc: "RESOURCE_EXHAUSTED", meaning: "a console viewer fell too far behind" },
  // Live migration; the stream's own codes are packages/migration's MigrationErrorCode. A broken,
  // timed-out or abandoned stream gets no status the control plane retries on by itself
  // (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED): whether to migrate again is its decision.
  MIGRATION_IN_PROGRESS: { grpc: "FAILED_PRECONDITION", meaning: "the VM is migrating already" },
  MIGRATION_NOT_IN_DOUBT: { grpc: "FAILED_PRECONDITION", meaning: "no in-doubt migration to resolve" },
  MIGRATION_UNSUPPORTED: { grpc: "FAILED_PRECONDITION", meaning: "this VM cannot migrate" },
  MIGRATION_NOT_FOUND: { grpc: "NOT_FOUND", meaning: "no such migration here" },
  MIGRATION_PLAN_CORRUPT: { grpc: "DATA_LOSS", meaning: "an incoming VMM's plan cannot be read" },
  MIGRATION_PROTOCOL: { grpc: "INTERNAL", meaning: "the migration stream broke its format" },
  MIGRATION_TARGET_REFUSED: {
    grpc: "FAILED_PRECONDITION",
    meaning: "the destination refused the stream",
  },
  MIGRATION_STREAM_BROKEN: { grpc: "INTERNAL", meaning: "the migration link broke" },
  MIGRATION_STREAM_STALLED: {
    grpc: "INTERNAL",
    meaning: "the migration link stopped moving without an error",
  },
  MIGRATION_VERIFY_FAILED: {
    grpc: "DATA_LOSS",
    meaning: "the destination's checks at commit failed",
  },
  MIGRATION_TIMEOUT: { grpc: "INTERNAL", meaning: "the migration ran past its timeout" },
  MIGRATION_CANCELLED: { grpc: "CANCELLED", meaning: "the migration was cancelled" },
  MIGRATION_ABORTED: { grpc: "CANCELLED", meaning: "the other side abandoned the migration" },
  MIGRATION_TARGET_FAILED: { grpc: "UNAVAILABLE", meaning: "the destination failed" },
  MIGRATION_IN_DOUBT: { grpc: "FAILED_PRECONDITION", meaning: "the commit's fate is unknown" },
  // Cold move (ImportVm / ExportVm).
  MOVE_COPY_FAILED: { grpc: "INTERNAL", meaning: "a cold move's copy from the source agent broke off" },
  MOVE_VERIFY_FAILED: {
    grpc: "DATA_LOSS",
    meaning: "a cold move's files do not match the source's sizes or checksums",
  },
  // VPS networks.
  NETWORK_MAP_INVALID: {
    grpc: "INVALID_ARGUMENT",
    meaning: "the network map is inconsistent (a port outside its network, an address taken twice, …)",
  },
  NETWORK_UNAVAILABLE: {
    grpc: "FAILED_PRECONDITION",
    meaning: "the VM has a NIC and this agent runs no switch",
  },
  INTERNAL: { grpc: "INTERNAL", meaning: "an error the agent did not expect" },
} as const satisfies Record<string, CatalogueEntry>;

export type AgentErrorCode = keyof typeof AGENT_ERRORS;

export function agentError(
  code: AgentErrorCode,
  message: string,
  details?: Record<string, unknown>,
): SkiffError {
  return new SkiffError(code, message, details);
}

export function isAgentErrorCode(code: string): code is AgentErrorCode {
  return Object.hasOwn(AGENT_ERRORS, code);
}

/** A code from outside the catalogue (hv-core, a library) counts as INTERNAL. */
export function grpcStatusNameOf(code: string): GrpcStatusName {
  return isAgentErrorCode(code) ? AGENT_ERRORS[code].grpc : "INTERNAL";
}
