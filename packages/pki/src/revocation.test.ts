import { X509Certificate } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { identityOf, nodeIdentity } from "./identity.js";
import { createCa, type Issued, issueCert } from "./issue.js";
import { checkRevocation } from "./revocation.js";

const DAY = 86_400_000;
let ca: Issued;

function peerOf(issued: Issued) {
  const cert = new X509Certificate(issued.certPem);
  return { identity: identityOf(cert) ?? "", issuedAt: new Date(cert.validFrom) };
}

beforeAll(async () => {
  ca = await createCa("test");
});

describe("checkRevocation", () => {
  it("refuses a node's certificates issued up to its revocation, and passes one issued after", async () => {
    const revokedAt = new Date(Date.now() - DAY);
    const list = { revokedAt: (id: string) => (id === "node:gone" ? revokedAt : undefined) };
    const old = peerOf(
      await issueCert(ca, nodeIdentity("gone"), { days: 30, notBefore: new Date(revokedAt.getTime() - DAY) }),
    );
    expect(checkRevocation(old, list)).toMatchObject({ ok: false, reason: "revoked" });
    // Certificate times have whole seconds: issued in the second of the revocation counts as before.
    const same = peerOf(await issueCert(ca, nodeIdentity("gone"), { days: 30, notBefore: revokedAt }));
    expect(checkRevocation(same, list)).toMatchObject({ ok: false, reason: "revoked" });
    const renewed = peerOf(await issueCert(ca, nodeIdentity("gone"), { days: 30 }));
    expect(checkRevocation(renewed, list)).toEqual({ ok: true, identity: "node:gone" });
  });

  it("passes other identities, and everything without a list", async () => {
    const other = peerOf(await issueCert(ca, nodeIdentity("n1"), { days: 30 }));
    expect(checkRevocation(other, { revokedAt: () => undefined }).ok).toBe(true);
    expect(checkRevocation(other, undefined).ok).toBe(true);
  });
});
