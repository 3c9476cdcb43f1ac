/**
 * Who may make which call, by the certificate the caller's connection proved. The agent token is
 * shared by every node (they need it to register), so on its own it would let any node act as the
 * control plane towards the others. With mutual TLS only the API (`api`) drives an agent; another
 * node may only make the calls of a move between two nodes, each of which also needs what the
 * control plane handed out for that move (a migration's id, a cold move's export).
 */
import type { PeerCertificate } from "node:tls";
import type { Logger } from "@skiff/common";
import { API_IDENTITY, callerIdentity, nodeNameOf } from "@skiff/pki";
import { agentError } from "../errors.js";
import { toServiceError } from "./errors.js";

/** The calls one agent makes on another during a move (see migration/source.ts, cold-target.ts). */
export const NODE_CALLS: ReadonlySet<string> = new Set(["abortMigrationTarget", "exportVm"]);

/** Whether `identity` may make `rpc` (undefined identity: plaintext, the token alone decides). */
export function mayCall(rpc: string, identity: string | undefined, tls: boolean): boolean {
  if (!tls) return true;
  if (identity === API_IDENTITY) return true;
  return identity !== undefined && nodeNameOf(identity) !== undefined && NODE_CALLS.has(rpc);
}

interface AnyCall {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
  emit(event: "error", err: unknown): boolean;
}
type Handler = (call: AnyCall, callback?: (err: unknown) => void) => void;

/**
 * The service's handlers, each refusing (PERMISSION_DENIED, CALLER_NOT_ALLOWED) a caller its
 * certificate does not allow, before the handler sees the call.
 */
export function guardCallers<T extends object>(service: T, tls: boolean, log: Logger): T {
  const guarded: Record<string, Handler> = {};
  for (const [rpc, handler] of Object.entries(service) as [string, Handler][]) {
    guarded[rpc] = (call, callback) => {
      const identity = tls ? callerIdentity(call) : undefined;
      if (mayCall(rpc, identity, tls)) return handler(call, callback);
      log.warn({ rpc, caller: identity ?? "no certificate" }, "call refused: not allowed for this caller");
      const err = toServiceError(
        agentError("CALLER_NOT_ALLOWED", `${identity ?? "this caller"} may not call ${rpc}`),
      );
      if (callback) callback(err);
      else call.emit("error", err);
    };
  }
  return guarded as T;
}
