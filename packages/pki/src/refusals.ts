/**
 * Every refused peer is logged once with its reason and counted, per process, for /metrics. A
 * refusal never throws past the connection it concerns.
 */
import type { Logger } from "@skiff/common";
import type { Refusal } from "./verify.js";

/** Handshake failures Node reports without a certificate to judge (wrong CA, none sent, ...). */
export type TlsRefusal = Refusal | "handshake";

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
