import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { errorMessage, SkiffError } from "@skiff/common";

/** gRPC status for each error code the agent raises on purpose; anything else is INTERNAL. */
const STATUS_OF: Record<string, status> = {
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  VM_NOT_FOUND: status.NOT_FOUND,
  VM_EXISTS: status.ALREADY_EXISTS,
  STALE_EPOCH: status.FAILED_PRECONDITION,
  INVALID_TRANSITION: status.FAILED_PRECONDITION,
  VM_NOT_RUNNING: status.FAILED_PRECONDITION,
  SNAPSHOT_MISSING: status.FAILED_PRECONDITION,
  AGENT_SHUTTING_DOWN: status.UNAVAILABLE,
  VMM_GONE: status.UNAVAILABLE,
  VMM_TIMEOUT: status.DEADLINE_EXCEEDED,
  MIGRATION_IN_PROGRESS: status.FAILED_PRECONDITION,
  MIGRATION_NOT_IN_DOUBT: status.FAILED_PRECONDITION,
  MIGRATION_UNSUPPORTED: status.FAILED_PRECONDITION,
  MIGRATION_TARGET_FAILED: status.UNAVAILABLE,
};

export const ERROR_CODE_KEY = "skiff-error-code";

/** A gRPC error whose message starts with the Skiff code, also given as trailing metadata. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = err instanceof SkiffError ? err.code : "INTERNAL";
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, code);
  return {
    code: STATUS_OF[code] ?? status.INTERNAL,
    details: `${code}: ${errorMessage(err)}`,
    metadata,
  };
}
