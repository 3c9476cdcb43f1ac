import { status } from "@grpc/grpc-js";
import type { AgentCallError } from "../agents/agent-client.js";
import { type ApiErrorCode, ERROR_STATUS } from "./errors.js";

/**
 * Where an agent's refusal lands in the API's catalogue. An agent error that reaches a client is
 * rendered with one of the API's codes (its own code goes along as `details.agentCode`), so
 * clients match on one catalogue and never see an agent's failure as a bare INTERNAL.
 *
 * By gRPC status first: the agent's catalogue gives every code it raises a status, so a code
 * added there maps here without an edit. The codes below refine what the status alone says.
 */
export const AGENT_STATUS_TO_API: { readonly [S in status]: ApiErrorCode } = {
  [status.OK]: "INTERNAL",
  [status.CANCELLED]: "UNAVAILABLE",
  [status.UNKNOWN]: "INTERNAL",
  // The API built the request: a field the agent refuses is our fault, not the client's.
  [status.INVALID_ARGUMENT]: "INTERNAL",
  [status.DEADLINE_EXCEEDED]: "UNAVAILABLE",
  [status.NOT_FOUND]: "NOT_FOUND",
  [status.ALREADY_EXISTS]: "CONFLICT",
  [status.PERMISSION_DENIED]: "INTERNAL",
  [status.RESOURCE_EXHAUSTED]: "UNAVAILABLE",
  [status.FAILED_PRECONDITION]: "INVALID_STATE",
  [status.ABORTED]: "UNAVAILABLE",
  [status.OUT_OF_RANGE]: "INTERNAL",
  [status.UNIMPLEMENTED]: "INTERNAL",
  [status.INTERNAL]: "INTERNAL",
  [status.UNAVAILABLE]: "UNAVAILABLE",
  [status.DATA_LOSS]: "INTERNAL",
  // The agent does not take the API's agent token: a deployment fault, not the client's.
  [status.UNAUTHENTICATED]: "INTERNAL",
};

export const AGENT_CODE_TO_API: Readonly<Record<string, ApiErrorCode>> = {
  // The VPS's disk must come from shared storage and is not there: its data cannot be had.
  DISK_NOT_FOUND: "UNPROCESSABLE",
  // The VM could not be made from this image and plan (disk copy or first boot failed).
  VM_CREATE_FAILED: "UNPROCESSABLE",
  VMM_BOOT_FAILED: "UNPROCESSABLE",
  STALE_EPOCH: "CONFLICT",
  VM_EXISTS: "CONFLICT",
  VM_NOT_FOUND: "NOT_FOUND",
  INVALID_TRANSITION: "INVALID_STATE",
  MIGRATION_IN_PROGRESS: "VPS_BUSY",
  // What the API's own client says when no agent answered (grpc-agent.ts).
  AGENT_UNAVAILABLE: "UNAVAILABLE",
  AGENT_ERROR: "INTERNAL",
  NO_NODE: "INVALID_STATE",
  // The node was revoked: the API refused its certificate (grpc-agent.ts), nothing to retry.
  NODE_REVOKED: "INVALID_STATE",
};

export interface MappedAgentError {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly details: { readonly agentCode: string; readonly retryable: boolean };
}

export function apiErrorOfAgent(err: AgentCallError): MappedAgentError {
  const grpcCode = err.details?.grpcCode;
  const code =
    AGENT_CODE_TO_API[err.code] ??
    (typeof grpcCode === "number" && grpcCode in AGENT_STATUS_TO_API
      ? AGENT_STATUS_TO_API[grpcCode as status]
      : undefined) ??
    (err.retryable ? "UNAVAILABLE" : "INTERNAL");
  return { code, status: ERROR_STATUS[code], details: { agentCode: err.code, retryable: err.retryable } };
}
