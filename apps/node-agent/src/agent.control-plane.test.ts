/**
 * Registration and heartbeats against a small HTTPS server that speaks the control-plane contract
 * (test-support/control-plane-stub.ts): the agent registers with its node certificate, reports
 * its VMs, re-registers when the API forgot it, and keeps retrying while the API is down.
 */
import { join } from "node:path";
import { freePort } from "@skiff/devkit";
import { afterEach, describe, expect, it } from "vitest";
import { controlPlaneStub } from "./test-support/control-plane-stub.js";
import {
  agentClient,
  call,
  firmwareVm,
  killVmms,
  makeTempDir,
  startAgent,
  TOKEN,
  waitUntil,
} from "./test-support/harness.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("control-plane link", () => {
  it("registers once the API comes up, heartbeats its VMs, re-registers when forgotten", async () => {
    const tmp = makeTempDir("skiff-agent-");
    const dataDir = join(tmp.path, "data");
    cleanups.push(() => {
      killVmms(dataDir);
      tmp.remove();
    });
    const apiPort = await freePort();
    // The API is down when the agent starts: the agent serves anyway and retries.
    const agent = await startAgent({
      dataDir,
      env: {
        SKIFF_API_URL: `https://127.0.0.1:${apiPort}`,
        SKIFF_AGENT_LABELS: "zone=a,disk=ssd",
        // Offered capacity (several agents share this host in tests and local clusters).
        SKIFF_AGENT_CPUS: "3",
        SKIFF_AGENT_MEMORY: "2G",
      },
    });
    cleanups.push(() => agent.stop("SIGKILL"));
    const client = agentClient(agent.port);
    cleanups.push(() => client.close());
    await call(client, "createVm", firmwareVm(tmp.path, "reported"));
    await new Promise((r) => setTimeout(r, 1500));

    const api = await controlPlaneStub(apiPort);
    cleanups.push(() => api.close());
    await waitUntil("registration", () => api.seen.some((s) => s.path === "/v1/nodes/register"), {
      timeoutMs: 15_000,
    });
    const reg = api.seen.find((s) => s.path === "/v1/nodes/register")!;
    expect(reg.auth).toBe(`Bearer ${TOKEN}`);
    expect(reg.peer).toBe("node:test-node");
    expect(reg.body).toMatchObject({
      name: "test-node",
      grpcAddress: `127.0.0.1:${agent.port}`,
      labels: { zone: "a", disk: "ssd" },
      vms: [{ vmId: "reported", epoch: 1, state: "running", memoryBytes: 1 << 20 }],
    });
    const cap = reg.body.capacity as { cpus: number; memoryBytes: number; diskBytes: number };
    expect(cap.cpus).toBe(3);
    expect(cap.memoryBytes).toBe(2 * 2 ** 30);
    expect(cap.diskBytes).toBeGreaterThan(0);

    await waitUntil(
      "heartbeats",
      () => api.seen.filter((s) => s.path === "/v1/nodes/node-1/heartbeat").length >= 2,
    );
    const hb = api.seen.find((s) => s.path === "/v1/nodes/node-1/heartbeat")!;
    expect(hb.body).toMatchObject({ usage: { vmCount: 1 }, vms: [{ vmId: "reported", state: "running" }] });
    // Each report names the API's previous answer, which it was taken after.
    const [first, second] = api.seen.filter((s) => s.path === "/v1/nodes/node-1/heartbeat");
    expect(first!.body.capturedAfterMs).toBe(reg.answered);
    expect(second!.body.capturedAfterMs).toBe(first!.answered);

    // A state change shows in the next heartbeat.
    await call(client, "pauseVm", { ref: { vmId: "reported", epoch: 1 } });
    await waitUntil("paused reported", () =>
      api.seen.some((s) => JSON.stringify(s.body.vms ?? []).includes('"state":"paused"')),
    );

    api.forget();
    await waitUntil("re-registration", () => api.seen.some((s) => s.path === "/v1/nodes/node-2/heartbeat"));
  });
});
