/**
 * Every refused peer is logged once with its reason and counted, per process, for /metrics. A
 * refusal never throws past the connection it concerns.
 */
import type { Logger } from "@skiff/common";
import type { Refusal } from "./verify.js";

/**
 * Beyond a certificate's verdict: a client that sent none, and handshakes that failed before any
 * certificate (plaintext on a TLS port, protocol garbage).
 */
export type TlsRefusal = Refusal | "no-certificate" | "handshake";

/**
 * What OpenSSL's verification error (a server socket's `authorizationError`) says, in the terms of
 * verify.ts. Node's handshake error itself only says the connection was reset.
 */
export function refusalOfHandshake(authorizationError: unknown, errCode: string | undefined): TlsRefusal {
  switch (authorizationError) {
    case "CERT_HAS_EXPIRED":
      return "expired";
    case "CERT_NOT_YET_VALID":
      return "not-yet-valid";
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "CERT_SIGNATURE_FAILURE":
      return "wrong-ca";
    case undefined:
    case null:
      return errCode === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" ? "no-certificate" : "handshake";
    default:
      return "malformed";
  }
}

const counts = new Map<TlsRefusal, number>();

export function countRefusal(reason: TlsRefusal): void {
  counts.set(reason, (counts.get(reason) ?? 0) + 1);
}

/** Refusals so far by reason (a copy). */
export function tlsRefusals(): Readonly<Record<string, number>> {
  return Object.fromEntries(counts);
}

export function logRefusal(
  log: Logger,
  reason: TlsRefusal,
  fields: { peer: string; detail: string; [k: string]: unknown },
): void {
  countRefusal(reason);
  log.warn({ code: "TLS_PEER_REFUSED", reason, ...fields }, `refused TLS peer ${fields.peer}: ${reason}`);
}
