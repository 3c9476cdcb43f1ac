/**
 * The agent's gRPC service under mutual TLS (the default) and with SKIFF_TLS=off: a real agent
 * process, real handshakes. No guests: only who may talk to it, and what it tells the control
 * plane about those it refused.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { freePort } from "@skiff/devkit";
import { createCa, type Issued, issueCert } from "@skiff/pki";
import { NodeAgentClient } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlaneStub, controlPlaneStub } from "./test-support/control-plane-stub.js";
import {
  type AgentProcess,
  agentClient,
  call,
  makeTempDir,
  startAgent,
  testRegion,
  waitUntil,
} from "./test-support/harness.js";

const tmp = makeTempDir("skiff-agent-tls-");
let agent: AgentProcess;
let api: ControlPlaneStub;

beforeAll(async () => {
  api = await controlPlaneStub(await freePort());
  agent = await startAgent({
    dataDir: `${tmp.path}/tls`,
    env: { SKIFF_AGENT_NAME: "n-tls", SKIFF_API_URL: api.url },
  });
});

afterAll(async () => {
  await agent?.stop();
  await api?.close();
  tmp.remove();
});

/** A client holding `cert` (and trusting the region CA), expecting nothing of the agent. */
async function clientWith(cert: Issued): Promise<NodeAgentClient> {
  const { api } = await testRegion();
  const creds = credentials.createSsl(api.ca, Buffer.from(cert.keyPem), Buffer.from(cert.certPem), {
    checkServerIdentity: () => undefined,
  });
  return new NodeAgentClient(`127.0.0.1:${agent.port}`, creds);
}

function refusal(client: NodeAgentClient): Promise<ServiceError> {
  return call(client, "nodeStats", {})
    .then(
      () => expect.unreachable("the call went through") as never,
      (err: ServiceError) => err,
    )
    .finally(() => client.close());
}

describe("agent over mutual TLS", () => {
  it("answers the control plane's certificate when it is the node expected", async () => {
    const c = agentClient(agent.port);
    expect((await call(c, "nodeStats", {})).nodeName).toBe("n-tls");
    c.close();
  });

  it("is refused by a client that expected another node, which says why", async () => {
    const err = await refusal(agentClient(agent.port, "n-other"));
    expect(err.code).toBe(14);
    expect(err.details).toContain("names node:n-tls, expected node:n-other");
  });

  it("refuses plaintext, a foreign CA's and an expired certificate by reason, and keeps serving", async () => {
    expect(
      (await refusal(new NodeAgentClient(`127.0.0.1:${agent.port}`, credentials.createInsecure()))).code,
    ).toBe(14);
    const foreign = await issueCert(await createCa("elsewhere"), "api", { days: 1 });
    expect((await refusal(await clientWith(foreign))).code).toBe(14);
    const { dir } = await testRegion();
    const ca = {
      certPem: readFileSync(join(dir, "ca.pem"), "utf8"),
      keyPem: readFileSync(join(dir, "ca.key"), "utf8"),
    };
    const expired = await issueCert(ca, "api", { days: 1, notBefore: new Date(Date.now() - 3 * 86_400_000) });
    expect((await refusal(await clientWith(expired))).code).toBe(14);
    for (const reason of ["wrong-ca", "expired"]) {
      await waitUntil(`the ${reason} refusal logged`, () =>
        agent.proc.output().includes(`"reason":"${reason}"`),
      );
    }
    const c = agentClient(agent.port);
    expect((await call(c, "nodeStats", {})).nodeName).toBe("n-tls");
    c.close();
  });

  it("lets another node's certificate make only the calls of a move between nodes", async () => {
    const { dir } = await testRegion();
    const ca = {
      certPem: readFileSync(join(dir, "ca.pem"), "utf8"),
      keyPem: readFileSync(join(dir, "ca.key"), "utf8"),
    };
    const peer = await clientWith(await issueCert(ca, "node:n-other", { days: 1 }));
    // The token alone (every node holds it) does not make a node the control plane.
    const refused = await refusal(peer);
    expect(refused.code).toBe(7); // PERMISSION_DENIED
    expect(refused.details).toMatch(/^CALLER_NOT_ALLOWED: node:n-other may not call nodeStats/);
    // A move's own call passes the check and is judged on its request (no such migration here).
    const other = await clientWith(await issueCert(ca, "node:n-other", { days: 1 }));
    const answer = await call(other, "abortMigrationTarget", { vmId: "nope", migrationId: "m-1" }).then(
      () => "answered",
      (err: ServiceError) => err.details,
    );
    other.close();
    expect(answer).not.toMatch(/CALLER_NOT_ALLOWED/);
  });

  it("registers with its node certificate, and heartbeats the refusals by reason", async () => {
    await waitUntil("registration", () => api.seen.some((s) => s.path === "/v1/nodes/register"));
    expect(api.seen.find((s) => s.path === "/v1/nodes/register")?.peer).toBe("node:n-tls");
    await waitUntil("a heartbeat after the refusals", () =>
      api.seen.some((s) => {
        const r = s.body.tlsRefusals as Record<string, number> | undefined;
        return (r?.["wrong-ca"] ?? 0) >= 1 && (r?.expired ?? 0) >= 1;
      }),
    );
  });
});

describe("agent with SKIFF_TLS=off", () => {
  it("serves plaintext and says so loudly at start", async () => {
    const plain = await startAgent({
      dataDir: `${tmp.path}/plain`,
      env: { SKIFF_AGENT_NAME: "n-plain", SKIFF_TLS: "off" },
    });
    try {
      const c = agentClient(plain.port);
      expect((await call(c, "nodeStats", {})).nodeName).toBe("n-plain");
      c.close();
      expect(plain.proc.output()).toContain('"code":"TLS_OFF"');
    } finally {
      await plain.stop();
    }
  });
});
