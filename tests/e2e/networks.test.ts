// Networks end to end: the API process with its workers and two real node agents. Two VPSes get
// distinct addresses in their project's network, and the network map the API builds reaches both
// agents' switches (each node reports the map's version back in its heartbeat), also after a live
// migration moves one of them to the other node.
import { LOCAL_NETWORK_MTU } from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addEchoCatalog, built, type Cluster, startCluster, waitFor } from "./api-cluster.js";

const MiB = 2 ** 20;
let c: Cluster;
let token: string;

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies
type Json = any;

describe.skipIf(!built)("networks: API + 2 node agents", () => {
  beforeAll(async () => {
    c = await startCluster({ agents: 2, agentEnv: { SKIFF_AGENT_MEMORY: String(4 * MiB) } });
    await addEchoCatalog(c);
    const p = await c.call("POST", "/v1/projects", { name: "net-e2e", quotas: { maxVps: 10 } });
    token = (await c.call("POST", "/v1/tokens", { name: "e2e", projectId: p.body.id })).body.token;
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it("gives two running VPSes addresses, and both agents hold the map that places them", async () => {
    const created = await Promise.all(
      ["web", "db"].map((name) => c.call("POST", "/v1/vps", { name, plan: "fw", image: "echo" }, token)),
    );
    expect(created.map((r) => r.status)).toEqual([202, 202]);
    const running: Json[] = await Promise.all(
      created.map((r) =>
        waitFor(
          `VPS ${r.body.name} runs`,
          async () => {
            const v = (await c.call("GET", `/v1/vps/${r.body.id}`, undefined, token)).body;
            if (v.state === "error") throw new Error(`VPS ${v.name}: ${v.stateReason}`);
            return v.state === "running" && v.action === null ? v : undefined;
          },
          120_000,
        ),
      ),
    );
    const nets = (await c.call("GET", "/v1/networks", undefined, token)).body.items;
    expect(nets).toHaveLength(1);
    expect(nets[0].mtu).toBe(LOCAL_NETWORK_MTU); // the cluster's SKIFF_NETWORK_MTU
    const prefix = nets[0].cidr.replace(/0\/24$/, "");
    expect(running.map((v) => v.ipv4).sort()).toEqual([`${prefix}2`, `${prefix}3`]);
    for (const v of running) expect(v.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);

    const map = (await c.call("GET", "/v1/network-map")).body;
    expect(map.networks[0].mtu).toBe(LOCAL_NETWORK_MTU);
    for (const v of running) {
      expect(map.ports).toContainEqual(
        expect.objectContaining({ vpsId: v.id, ipv4: v.ipv4, mac: v.mac, hostname: v.name }),
      );
    }
    // Both agents registered their overlay endpoints, and their switches report the map's version.
    const nodes: Json[] = await waitFor(
      "both agents hold the current map",
      async () => {
        const current = (await c.call("GET", "/v1/network-map")).body.version;
        const items = (await c.call("GET", "/v1/nodes?status=ready")).body.items;
        return items.length === 2 && items.every((n: Json) => n.networkMapVersion === current)
          ? items
          : undefined;
      },
      30_000,
    );
    for (const n of nodes) {
      expect(n.overlayEndpoint).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(map.nodes).toContainEqual(expect.objectContaining({ id: n.name }));
    }

    // A live migration's commit moves the port to the target node, keeping address and MAC, and
    // both agents get that map.
    const web = running.find((v) => v.name === "web");
    const target = nodes.find((n) => n.id !== web.nodeId);
    const r = await c.call("POST", `/v1/vps/${web.id}/migrate`, { targetNode: target.id });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const done = await waitFor(
      "the migration ends",
      async () => {
        const m = (await c.call("GET", `/v1/migrations/${r.body.id}`)).body;
        return m.finishedAt ? m : undefined;
      },
      120_000,
    );
    expect(done.state, JSON.stringify(done)).toBe("completed");
    const after = (await c.call("GET", "/v1/network-map")).body;
    expect(after.version).toBeGreaterThan(map.version);
    expect(after.ports).toContainEqual(
      expect.objectContaining({ vpsId: web.id, node: target.name, ipv4: web.ipv4, mac: web.mac }),
    );
    await waitFor(
      "both agents hold the map after the migration",
      async () => {
        const current = (await c.call("GET", "/v1/network-map")).body.version;
        const items = (await c.call("GET", "/v1/nodes?status=ready")).body.items;
        return items.every((n: Json) => n.networkMapVersion === current) || undefined;
      },
      30_000,
    );
  }, 240_000);
});
