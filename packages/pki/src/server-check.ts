/**
 * A TLS client's check of the server it reached, for gRPC channels and HTTPS alike: Node verified
 * the chain before it asks; this refuses a server naming someone else than `expect`, or a node the
 * region revoked, logs and counts the refusal, and fails the connection with the reason.
 */
import type { PeerCertificate } from "node:tls";
import type { Logger } from "@skiff/common";
import type { TlsMaterial } from "./files.js";
import { logRefusal } from "./refusals.js";
import { checkRevocation, type RevocationList } from "./revocation.js";
import { type PeerVerdict, parseCert, verifyPeer } from "./verify.js";

export type ServerIdentityCheck = (host: string, peer: PeerCertificate) => Error | undefined;

export function serverIdentityCheck(
  tls: TlsMaterial,
  expect: string | ((identity: string) => boolean),
  log: Logger,
  opts: {
    onRefused?: ((verdict: PeerVerdict) => void) | undefined;
    revocations?: RevocationList | undefined;
  } = {},
): ServerIdentityCheck {
  return (host, peer) => {
    const cert = parseCert(peer.raw);
    let v = verifyPeer(cert ?? peer.raw, tls.caCerts, expect);
    if (v.ok && cert) {
      v = checkRevocation({ identity: v.identity, issuedAt: new Date(cert.validFrom) }, opts.revocations);
    }
    if (v.ok) return undefined;
    logRefusal(log, v.reason, { peer: host, detail: v.detail, side: "client" });
    opts.onRefused?.(v);
    return Object.assign(new Error(`TLS peer ${host} refused: ${v.detail}`), { code: "TLS_PEER_REFUSED" });
  };
}
