/**
 * Revocation by identity and issue time: a region revokes a node (deleted, or fenced for good) by
 * recording when, and every certificate naming that node issued up to then is refused. A node
 * added again gets a certificate issued afterwards, which passes. Unlike a list of serials, this
 * needs no record of which certificates a node ever held (renewals, copies on another host).
 */
import type { PeerVerdict } from "./verify.js";

export interface RevocationList {
  /** When certificates naming `identity` were revoked (undefined: they are not). */
  revokedAt(identity: string): Date | undefined;
}

/** A verified certificate: whom it names and when it was issued (its notBefore). */
export interface CertifiedPeer {
  readonly identity: string;
  readonly issuedAt: Date;
}

/** Certificates issued at or before the revocation are refused (X.509 times have 1 s steps). */
export function checkRevocation(peer: CertifiedPeer, list: RevocationList | undefined): PeerVerdict {
  const at = list?.revokedAt(peer.identity);
  if (at && peer.issuedAt.getTime() <= at.getTime()) {
    return {
      ok: false,
      reason: "revoked",
      detail: `NODE_REVOKED: ${peer.identity} was revoked at ${at.toISOString()} (certificate issued ${peer.issuedAt.toISOString()})`,
    };
  }
  return { ok: true, identity: peer.identity };
}
