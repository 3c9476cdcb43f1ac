import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { errorMessage, SkiffError } from "@skiff/common";
import { grpcStatusNameOf } from "../errors.js";

export const ERROR_CODE_KEY = "skiff-error-code";

/**
 * A gRPC error whose message starts with the Skiff code, also given as trailing metadata; its
 * status comes from the agent's error catalogue (../errors.ts).
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code = err instanceof SkiffError ? err.code : "INTERNAL";
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, code);
  return {
    code: status[grpcStatusNameOf(code)],
    details: `${code}: ${errorMessage(err)}`,
    metadata,
  };
}
