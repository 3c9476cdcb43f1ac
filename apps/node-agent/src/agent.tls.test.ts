/**
 * The agent's gRPC service under mutual TLS (the default) and with SKIFF_TLS=off: a real agent
 * process, real handshakes. No guests: only who may talk to it.
 */
import { credentials, type ServiceError } from "@grpc/grpc-js";
import { createCa, issueCert } from "@skiff/pki";
import { NodeAgentClient } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

beforeAll(async () => {
  agent = await startAgent({ dataDir: `${tmp.path}/tls`, env: { SKIFF_AGENT_NAME: "n-tls" } });
});

afterAll(async () => {
  await agent?.stop();
  tmp.remove();
});

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

  it("refuses plaintext and a foreign CA's certificate, and keeps serving", async () => {
    expect(
      (await refusal(new NodeAgentClient(`127.0.0.1:${agent.port}`, credentials.createInsecure()))).code,
    ).toBe(14);
    const { api } = await testRegion();
    const foreign = await issueCert(await createCa("elsewhere"), "api", { days: 1 });
    const creds = credentials.createSsl(api.ca, Buffer.from(foreign.keyPem), Buffer.from(foreign.certPem), {
      checkServerIdentity: () => undefined,
    });
    expect((await refusal(new NodeAgentClient(`127.0.0.1:${agent.port}`, creds))).code).toBe(14);
    await waitUntil("the refusal logged", () => agent.proc.output().includes('"reason":"handshake"'));
    const c = agentClient(agent.port);
    expect((await call(c, "nodeStats", {})).nodeName).toBe("n-tls");
    c.close();
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
