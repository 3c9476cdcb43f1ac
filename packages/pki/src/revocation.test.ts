import { beforeAll, describe, expect, it } from "vitest";
import { nodeIdentity } from "./identity.js";
import { createCa, type Issued, issueCert } from "./issue.js";
import { checkRevocation } from "./revocation.js";
import { parseCert } from "./verify.js";

const DAY = 86_400_000;
let ca: Issued;

beforeAll(async () => {
  ca = await createCa("test");
});

describe("checkRevocation", () => {
  it("refuses a node's certificates issued up to its revocation, and passes one issued after", async () => {
    const revokedAt = new Date(Date.now() - DAY);
    const list = { revokedAt: (id: string) => (id === "node:gone" ? revokedAt : undefined) };
    const old = parseCert(
      (
        await issueCert(ca, nodeIdentity("gone"), {
          days: 30,
          notBefore: new Date(revokedAt.getTime() - DAY),
        })
      ).certPem,
    )!;
    expect(checkRevocation(old, list)).toMatchObject({ ok: false, reason: "revoked" });
    // The same second as the revocation still counts as before it.
    const same = parseCert(
      (await issueCert(ca, nodeIdentity("gone"), { days: 30, notBefore: revokedAt })).certPem,
    )!;
    expect(checkRevocation(same, list)).toMatchObject({ ok: false, reason: "revoked" });
    const renewed = parseCert((await issueCert(ca, nodeIdentity("gone"), { days: 30 })).certPem)!;
    expect(checkRevocation(renewed, list)).toEqual({ ok: true, identity: "node:gone" });
  });

  it("passes other identities, and everything without a list", async () => {
    const other = parseCert((await issueCert(ca, nodeIdentity("n1"), { days: 30 })).certPem)!;
    expect(checkRevocation(other, { revokedAt: () => undefined }).ok).toBe(true);
    expect(checkRevocation(other, undefined).ok).toBe(true);
  });
});
