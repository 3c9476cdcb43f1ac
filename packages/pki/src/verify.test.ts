import { beforeAll, describe, expect, it } from "vitest";
import { nodeIdentity, nodeNameOf } from "./identity.js";
import { createCa, type Issued, issueCert } from "./issue.js";
import { parseCert, parseCertBundle, verifyPeer } from "./verify.js";

const DAY = 86_400_000;
let ca: Issued;
let other: Issued;
let caCert: NonNullable<ReturnType<typeof parseCert>>;

beforeAll(async () => {
  [ca, other] = await Promise.all([createCa("test"), createCa("other")]);
  caCert = parseCert(ca.certPem)!;
});

describe("verifyPeer", () => {
  it("accepts a certificate of the region CA naming the expected node", async () => {
    const c = await issueCert(ca, nodeIdentity("n1"), { days: 30 });
    expect(verifyPeer(c.certPem, caCert, "node:n1")).toEqual({ ok: true, identity: "node:n1" });
    expect(verifyPeer(c.certPem, caCert, (id) => nodeNameOf(id) !== undefined).ok).toBe(true);
    expect(verifyPeer(c.certPem, caCert).ok).toBe(true);
  });

  it("refuses a certificate naming another node", async () => {
    const c = await issueCert(ca, nodeIdentity("n2"), { days: 30 });
    expect(verifyPeer(c.certPem, caCert, "node:n1")).toMatchObject({
      ok: false,
      reason: "wrong-identity",
      detail: "names node:n2, expected node:n1",
    });
  });

  it("refuses a certificate from another CA, unless that CA is in the bundle (rotation)", async () => {
    const c = await issueCert(other, nodeIdentity("n1"), { days: 30 });
    expect(verifyPeer(c.certPem, caCert, "node:n1")).toMatchObject({ ok: false, reason: "wrong-ca" });
    const bundle = parseCertBundle(`${ca.certPem}\n${other.certPem}`);
    expect(bundle).toHaveLength(2);
    expect(verifyPeer(c.certPem, bundle, "node:n1").ok).toBe(true);
  });

  it("refuses an expired and a not yet valid certificate", async () => {
    const c = await issueCert(ca, nodeIdentity("n1"), { days: 1, notBefore: new Date(Date.now() - 3 * DAY) });
    expect(verifyPeer(c.certPem, caCert, "node:n1")).toMatchObject({ ok: false, reason: "expired" });
    const early = new Date(Date.now() - 10 * DAY);
    const d = await issueCert(ca, nodeIdentity("n1"), { days: 30 });
    expect(verifyPeer(d.certPem, caCert, "node:n1", early)).toMatchObject({
      ok: false,
      reason: "not-yet-valid",
    });
  });

  it("refuses malformed input without throwing", () => {
    expect(
      verifyPeer("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", caCert),
    ).toMatchObject({ ok: false, reason: "malformed" });
    expect(verifyPeer(Buffer.from([0x30, 0x03, 0x02, 0x01]), caCert)).toMatchObject({
      ok: false,
      reason: "malformed",
    });
  });
});
