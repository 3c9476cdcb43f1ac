import { SkiffError } from "@skiff/common";

/**
 * The API's error catalogue: every code a client can see, with its HTTP status. Handlers throw
 * `apiError(code, message, details)`; the error handler renders {error:{code,message,details}}.
 * Codes are stable (clients and the CLI match on them); messages are for people.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_CURSOR: 400,
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NODE_IDENTITY_MISMATCH: 403,
  NODE_REVOKED: 403,
  AGENT_CERTIFICATE_REQUIRED: 403,
  NOT_FOUND: 404,
  VPS_NOT_FOUND: 404,
  NODE_NOT_FOUND: 404,
  PLAN_NOT_FOUND: 404,
  IMAGE_NOT_FOUND: 404,
  PROJECT_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  SSH_KEY_NOT_FOUND: 404,
  PLACEMENT_GROUP_NOT_FOUND: 404,
  EVENT_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  NAME_TAKEN: 409,
  VPS_BUSY: 409,
  INVALID_STATE: 409,
  IDEMPOTENCY_IN_PROGRESS: 409,
  IN_USE: 409,
  NODE_NOT_EMPTY: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  NO_NODE_FITS: 422,
  QUOTA_EXCEEDED: 422,
  INVALID_REFERENCE: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const satisfies Record<string, number>;

export type ApiErrorCode = keyof typeof ERROR_STATUS;

export function apiError(code: ApiErrorCode, message: string, details?: Record<string, unknown>): SkiffError {
  return new SkiffError(code, message, details);
}

export function statusOf(code: string): number | undefined {
  return (ERROR_STATUS as Record<string, number>)[code];
}

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}
