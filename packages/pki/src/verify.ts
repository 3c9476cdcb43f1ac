/**
 * Whether a peer's certificate may speak for whom it must: issued by the region CA, within its
 * validity, naming the expected identity. Node's TLS checks the chain during the handshake; this
 * gives the verdict its reason, for the log line and the refusal counter.
 */
import { X509Certificate } from "node:crypto";
import { identityOf } from "./identity.js";

export type Refusal = "malformed" | "wrong-ca" | "expired" | "not-yet-valid" | "wrong-identity" | "revoked";

export type PeerVerdict =
  | { readonly ok: true; readonly identity: string }
  | { readonly ok: false; readonly reason: Refusal; readonly detail: string };

/** Parses PEM or DER; undefined when it is not a certificate. */
export function parseCert(data: string | Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(data);
  } catch {
    return undefined;
  }
}

/** Every certificate of a PEM bundle (a CA file may hold the old and the new CA while rotating). */
export function parseCertBundle(pem: string | Buffer): X509Certificate[] {
  const blocks = pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map(parseCert).filter((c): c is X509Certificate => c !== undefined);
}

/**
 * `ca`: the region CA, or several (any one of them may have issued the certificate). `expected` is
 * one identity, or a test (e.g. "any node"); omitted, any identity the CA signed passes.
 */
export function verifyPeer(
  cert: string | Buffer | X509Certificate,
  ca: X509Certificate | readonly X509Certificate[],
  expected?: string | ((identity: string) => boolean),
  now: Date = new Date(),
): PeerVerdict {
  const c = cert instanceof X509Certificate ? cert : parseCert(cert);
  if (!c) return { ok: false, reason: "malformed", detail: "not a PEM or DER X.509 certificate" };
  const cas: readonly X509Certificate[] = Array.isArray(ca) ? ca : [ca];
  if (!cas.some((a) => c.checkIssued(a) && c.verify(a.publicKey))) {
    return { ok: false, reason: "wrong-ca", detail: `issued by "${c.issuer}", not by the region CA` };
  }
  if (now.getTime() > Date.parse(c.validTo)) {
    return { ok: false, reason: "expired", detail: `expired ${c.validTo}` };
  }
  if (now.getTime() < Date.parse(c.validFrom)) {
    return { ok: false, reason: "not-yet-valid", detail: `valid from ${c.validFrom}` };
  }
  const identity = identityOf(c);
  if (identity === undefined) return { ok: false, reason: "malformed", detail: "no subject CN" };
  const fits =
    expected === undefined || (typeof expected === "string" ? identity === expected : expected(identity));
  if (!fits) {
    const want = typeof expected === "string" ? expected : "another identity";
    return { ok: false, reason: "wrong-identity", detail: `names ${identity}, expected ${want}` };
  }
  return { ok: true, identity };
}
