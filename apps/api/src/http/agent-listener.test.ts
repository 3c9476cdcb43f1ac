/**
 * The agents' mutual-TLS listener in front of the real app and database: registration and
 * heartbeats need a certificate naming the node (the token stays a second factor), a revoked
 * node is refused with its old certificate and admitted with a new one, and bad certificates are
 * refused by reason, counted in /metrics, and never stop the listener.
 */
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { createLogger } from "@skiff/common";
import { testRegion } from "@skiff/devkit";
import {
  createCa,
  httpsClientOptions,
  type Issued,
  issueCert,
  nodeIdentity,
  parseCertBundle,
} from "@skiff/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";
import { type AgentListener, listenForAgents } from "./agent-listener.js";

const log = createLogger("agent-listener-test");
const DAY = 86_400_000;
let h: Harness;
let listener: AgentListener;
let regionCa: Issued;
let caPem: string;

/** A client holding `cert`, trusting the region CA and expecting the API on the other side. */
function clientTls(cert: Issued, identity = "api") {
  return httpsClientOptions(
    {
      files: { ca: "", cert: "", key: "" },
      ca: Buffer.from(caPem),
      caCerts: parseCertBundle(caPem),
      cert: Buffer.from(cert.certPem),
      key: Buffer.from(cert.keyPem),
      identity: "",
    },
    identity,
    log,
  );
}

const nodeCert = (name: string, notBefore?: Date) =>
  issueCert(regionCa, nodeIdentity(name), { days: 1, ...(notBefore ? { notBefore } : {}) });

/** POST over the agents' listener; a refused handshake resolves as status 0 with the error's code. */
function post(
  cert: Issued,
  path: string,
  body: unknown,
  token = AGENT_TOKEN,
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect response bodies freely
): Promise<{ status: number; body: any }> {
  const url = new URL(path, listener.address);
  return new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...clientTls(cert),
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", (err: Error & { code?: string }) => resolve({ status: 0, body: { error: err.code } }));
    req.end(JSON.stringify(body));
  });
}

const registration = (name: string) => ({
  name,
  grpcAddress: "127.0.0.1:1",
  capacity: { cpus: 2, memoryBytes: 2 ** 30, diskBytes: 2 ** 30 },
  vms: [],
});
const heartbeat = { usage: { cpuPercent: 1, memoryUsedBytes: 1, vmCount: 0 }, vms: [] };

async function metric(line: string): Promise<number> {
  const text = (await h.call(null, "GET", "/metrics")).body as string;
  const hit = text.split("\n").find((l) => l.startsWith(`${line} `));
  return hit ? Number(hit.split(" ")[1]) : 0;
}

beforeAll(async () => {
  h = await startHarness({ agentCertificates: true });
  const region = await testRegion();
  regionCa = {
    certPem: readFileSync(join(region.dir, "ca.pem"), "utf8"),
    keyPem: readFileSync(join(region.dir, "ca.key"), "utf8"),
  };
  caPem = regionCa.certPem;
  listener = await listenForAgents(h.app, { host: "127.0.0.1", port: 0, tls: region.api, log });
});

afterAll(async () => {
  await listener?.close();
  await h?.close();
});

describe("the agents' listener", () => {
  it("registers and heartbeats a node whose certificate names it; reports the agent's refusals", async () => {
    const cert = await nodeCert("a1");
    const reg = await post(cert, "/v1/nodes/register", registration("a1"));
    expect(reg.status).toBe(200);
    const hb = await post(cert, `/v1/nodes/${reg.body.nodeId}/heartbeat`, {
      ...heartbeat,
      tlsRefusals: { expired: 2 },
    });
    expect([hb.status, hb.body.ok]).toEqual([200, true]);
    expect(await metric('skiff_node_tls_refused_peers{node="a1",reason="expired"}')).toBe(2);
  });

  it("refuses another node's certificate (403 NODE_IDENTITY_MISMATCH, counted), plaintext, and no token", async () => {
    const before = await metric('skiff_tls_refused_peers{reason="wrong-identity"}');
    const a2 = await post(await nodeCert("a2"), "/v1/nodes/register", registration("a2"));
    const other = await post(await nodeCert("a3"), "/v1/nodes/register", registration("a2"));
    expect([other.status, other.body.error.code]).toEqual([403, "NODE_IDENTITY_MISMATCH"]);
    const hb = await post(await nodeCert("a3"), `/v1/nodes/${a2.body.nodeId}/heartbeat`, heartbeat);
    expect([hb.status, hb.body.error.code]).toEqual([403, "NODE_IDENTITY_MISMATCH"]);
    expect(await metric('skiff_tls_refused_peers{reason="wrong-identity"}')).toBe(before + 2);
    // The public listener (plain HTTP) takes no agent, even with the token.
    const plain = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", registration("a2"));
    expect([plain.status, plain.body.error.code]).toEqual([403, "AGENT_CERTIFICATE_REQUIRED"]);
    // Nor is the certificate enough without the token.
    const noToken = await post(await nodeCert("a2"), "/v1/nodes/register", registration("a2"), "wrong");
    expect([noToken.status, noToken.body.error.code]).toEqual([401, "UNAUTHENTICATED"]);
  });

  it("refuses a revoked node's certificate; a certificate issued afterwards registers again", async () => {
    const old = await nodeCert("r1", new Date(Date.now() - 60_000));
    const id = (await post(old, "/v1/nodes/register", registration("r1"))).body.nodeId as string;
    const { token } = await h.tenant();
    const v = (await h.call(token, "POST", "/v1/vps", { name: "on-r1", plan: "nano" })).body;
    await h.db.vps.update({ where: { id: v.id }, data: { state: "running", nodeId: id, action: null } });
    const busy = await h.call(h.operatorToken, "POST", `/v1/nodes/${id}/revoke`, {});
    expect([busy.status, busy.body.error.code]).toEqual([409, "NODE_NOT_EMPTY"]);
    await h.db.vps.update({ where: { id: v.id }, data: { nodeId: null } });

    const revoked = await h.call(h.operatorToken, "POST", `/v1/nodes/${id}/revoke`, { reason: "retired" });
    expect([revoked.status, revoked.body.status]).toEqual([200, "fenced"]);
    const hb = await post(old, `/v1/nodes/${id}/heartbeat`, heartbeat);
    expect([hb.status, hb.body.error.code]).toEqual([403, "NODE_REVOKED"]);
    const again = await post(old, "/v1/nodes/register", registration("r1"));
    expect([again.status, again.body.error.code]).toEqual([403, "NODE_REVOKED"]);
    expect(await metric('skiff_tls_refused_peers{reason="revoked"}')).toBeGreaterThanOrEqual(2);

    // X.509 times have whole seconds: a certificate issued in the next one is after the revocation.
    const renewed = await nodeCert("r1", new Date(Date.now() + 1000));
    await new Promise((r) => setTimeout(r, 1100));
    const back = await post(renewed, "/v1/nodes/register", registration("r1"));
    expect([back.status, back.body.nodeId]).toEqual([200, id]);
    // Back under its name, but fenced until the recovery readmits it (as any fenced node).
    expect((await h.call(h.operatorToken, "GET", `/v1/nodes/${id}`)).body.status).toBe("fenced");
    const types = (await h.call(h.operatorToken, "GET", `/v1/events?resourceId=${id}`)).body.items.map(
      (e: { type: string }) => e.type,
    );
    expect(types).toContain("node.revoked");
  });

  it("refuses expired and foreign certificates at the handshake, by reason, and keeps serving", async () => {
    const expired = await nodeCert("b1", new Date(Date.now() - 3 * DAY));
    const foreign = await issueCert(await createCa("elsewhere"), nodeIdentity("b1"), { days: 1 });
    for (const [reason, cert] of [
      ["expired", expired],
      ["wrong-ca", foreign],
    ] as const) {
      const line = `skiff_tls_refused_peers{reason="${reason}"}`;
      const before = await metric(line);
      expect((await post(cert, "/v1/nodes/register", registration("b1"))).status).toBe(0);
      await expect.poll(() => metric(line), { timeout: 10_000 }).toBe(before + 1);
    }
    expect((await post(await nodeCert("b1"), "/v1/nodes/register", registration("b1"))).status).toBe(200);
  });
});
