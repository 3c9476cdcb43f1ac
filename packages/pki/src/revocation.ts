/**
 * Revocation by identity and issue time: a region revokes a node (deleted, or fenced for good) by
 * recording when, and every certificate naming that node issued up to then is refused. A node
 * added again gets a certificate issued afterwards, which passes. Unlike a list of serials, this
 * needs no record of which certificates a node ever held (renewals, copies on another host).
 */
import type { X509Certificate } from "node:crypto";
import { identityOf } from "./identity.js";
import type { PeerVerdict } from "./verify.js";

export interface RevocationList {
  /** When certificates naming `identity` were revoked (undefined: they are not). */
  revokedAt(identity: string): Date | undefined;
}

/** Certificates issued at or before the revocation are refused (X.509 times have 1 s steps). */
export function checkRevocation(cert: X509Certificate, list: RevocationList | undefined): PeerVerdict {
  const identity = identityOf(cert);
  if (identity === undefined) return { ok: false, reason: "malformed", detail: "no subject CN" };
  const at = list?.revokedAt(identity);
  if (at && Date.parse(cert.validFrom) <= at.getTime()) {
    return {
      ok: false,
      reason: "revoked",
      detail: `NODE_REVOKED: ${identity} was revoked at ${at.toISOString()} (certificate issued ${new Date(cert.validFrom).toISOString()})`,
    };
  }
  return { ok: true, identity };
}
