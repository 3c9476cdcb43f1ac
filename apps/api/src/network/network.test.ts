// Networks and addresses against real PostgreSQL: concurrent placements never share an address,
// deletion releases it, the VPS and network resources show them to the right tenant only, and
// the network map follows placements, deletions, a migration's commit and a node's fencing and
// readmission with a growing version.
import { createLogger } from "@skiff/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../domain/placement.js";
import { SYSTEM } from "../services/events.js";
import { finishMigration } from "../services/migrations.js";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";
import type { WorkerContext } from "../workers/context.js";
import { runLifecycle } from "../workers/lifecycle.js";
import { allocateNic, placeVps } from "../workers/provision.js";
import { parseNetworkPool } from "./ipam.js";
import { buildNetworkMap, networkMapVersion } from "./map.js";

const MiB = 2 ** 20;
let h: Harness;
let ctx: WorkerContext;

async function register(name: string, overlayEndpoint?: string) {
  const r = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name,
    grpcAddress: "127.0.0.1:1",
    capacity: { cpus: 64, memoryBytes: 64 * 1024 * MiB, diskBytes: 1024 * 1024 * MiB },
    ...(overlayEndpoint ? { overlayEndpoint } : {}),
  });
  expect(r.status).toBe(200);
  return r.body.nodeId as string;
}

/** Creates `n` VPSes through the API and places them all at once. */
async function createAndPlace(token: string, prefix: string, n: number) {
  const created = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      h.call(token, "POST", "/v1/vps", { name: `${prefix}${i}`, plan: "small" }),
    ),
  );
  expect(created.map((r) => r.status)).toEqual(Array(n).fill(202));
  return Promise.all(
    created.map(async (r) => {
      const v = await h.db.vps.findUniqueOrThrow({ where: { id: r.body.id } });
      const placed = await placeVps(ctx, v, { vpsId: v.id, actionId: v.actionId! });
      return placed!;
    }),
  );
}

beforeAll(async () => {
  h = await startHarness();
  ctx = {
    db: h.db,
    agents: h.agents,
    policy: DEFAULT_POLICY,
    log: createLogger("test"),
    networkPool: parseNetworkPool("10.77.0.0/16"),
  };
  await register("net-a", "127.0.0.1:47001");
  await register("net-b", "127.0.0.1:47002");
}, 120_000);
afterAll(async () => {
  await h?.close();
});

describe("pool", () => {
  it("parses a pool with its network size and refuses nonsense", () => {
    expect(parseNetworkPool("10.200.0.0/16")).toEqual({ cidr: "10.200.0.0/16", networkPrefix: 24 });
    expect(parseNetworkPool("10.9.0.0/20:26")).toEqual({ cidr: "10.9.0.0/20", networkPrefix: 26 });
    expect(() => parseNetworkPool("10.9.0.1/16")).toThrow(/host bits/);
    expect(() => parseNetworkPool("10.9.0.0/16:8")).toThrow(/between/);
  });
});

describe("addresses", () => {
  it("gives 30 concurrent VPSes of two projects distinct addresses, lowest first, in one network each", async () => {
    const a = await h.tenant(undefined, { maxVps: 100 });
    const b = await h.tenant(undefined, { maxVps: 100 });
    const [pa, pb] = await Promise.all([createAndPlace(a.token, "a", 15), createAndPlace(b.token, "b", 15)]);
    const nets = await h.db.network.findMany({ where: { projectId: { in: [a.projectId, b.projectId] } } });
    expect(nets).toHaveLength(2);
    expect(new Set(nets.map((n) => n.vni)).size).toBe(2);
    for (const n of nets) {
      expect(n.cidr).toMatch(/^10\.77\.\d+\.0\/24$/);
      expect(n.gatewayIpv4).toBe(n.cidr.replace(/0\/24$/, "1"));
    }
    for (const [placed, projectId] of [
      [pa!, a.projectId],
      [pb!, b.projectId],
    ] as const) {
      const net = nets.find((n) => n.projectId === projectId)!;
      expect(placed.every((v) => v.networkId === net.id)).toBe(true);
      const hosts = placed.map((v) => Number(v.ipv4!.split(".")[3])).sort((x, y) => x - y);
      // .1 is the gateway; the rest are handed out from the bottom with no gap and no repeat.
      expect(hosts).toEqual(Array.from({ length: 15 }, (_, i) => i + 2));
      expect(placed.every((v) => v.ipv4!.startsWith(net.cidr.replace(/0\/24$/, "")))).toBe(true);
    }
    const macs = [...pa!, ...pb!].map((v) => v.mac!);
    expect(new Set(macs).size).toBe(30);
    for (const m of macs) expect(m).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
  });

  it("releases the address at deletion and hands it to the next VPS; shows ipv4 and mac in the resource", async () => {
    const t = await h.tenant(undefined, { maxVps: 100 });
    const placed = await createAndPlace(t.token, "d", 3);
    const second = placed.find((v) => v.ipv4!.endsWith(".3"))!;
    const got = await h.call(t.token, "GET", `/v1/vps/${second.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ ipv4: second.ipv4, mac: second.mac, networkId: second.networkId });

    // As if it had booted: its provisioning action is over.
    await h.db.vps.update({
      where: { id: second.id },
      data: { state: "running", action: null, actionId: null, actionStartedAt: null },
    });
    const del = await h.call(t.token, "DELETE", `/v1/vps/${second.id}`);
    expect(del.status).toBe(202);
    // Its node is down, so deletion does not wait for an agent (and none is running here).
    await h.db.node.update({ where: { id: second.nodeId! }, data: { status: "unreachable" } });
    const row = await h.db.vps.findUniqueOrThrow({ where: { id: second.id } });
    const outcome = await runLifecycle(
      ctx,
      { vpsId: row.id, action: "delete", actionId: row.actionId! },
      { number: 1, max: 1 },
    );
    await h.db.node.update({ where: { id: second.nodeId! }, data: { status: "ready" } });
    expect(outcome).toBe("done");
    const gone = await h.db.vps.findUniqueOrThrow({ where: { id: second.id } });
    expect(gone).toMatchObject({ state: "deleted", ipv4: null, mac: null, networkId: null });

    const [next] = await createAndPlace(t.token, "e", 1);
    expect(next!.ipv4).toBe(second.ipv4);
    expect(next!.mac).not.toBe(second.mac);
  });
});

describe("a VPS placed without a NIC (made before networks, cold-restarted by recovery)", () => {
  it("gets one before its VM is made, and keeps it afterwards", async () => {
    const t = await h.tenant(undefined, { maxVps: 10 });
    const [v] = await createAndPlace(t.token, "old", 1);
    // As a VPS from before this release: placed, but no NIC.
    await h.db.vps.update({ where: { id: v!.id }, data: { networkId: null, ipv4: null, mac: null } });
    const bare = await h.db.vps.findUniqueOrThrow({ where: { id: v!.id } });
    const given = await allocateNic(ctx, bare);
    expect(given.ipv4).toBe(v!.ipv4);
    expect(given.mac).toMatch(/^52:54:00/);
    expect(await allocateNic(ctx, given)).toMatchObject({ ipv4: given.ipv4, mac: given.mac });
  });
});

describe("GET /v1/networks", () => {
  it("shows a tenant its own network only, an operator every network, and nobody without a token", async () => {
    const t = await h.tenant(undefined, { maxVps: 10 });
    const other = await h.tenant(undefined, { maxVps: 10 });
    await createAndPlace(t.token, "n", 1);
    await createAndPlace(other.token, "o", 1);
    const mine = await h.call(t.token, "GET", "/v1/networks");
    expect(mine.status).toBe(200);
    expect(mine.body.items).toHaveLength(1);
    // No SKIFF_NETWORK_MTU given to this API: Ethernet's.
    expect(mine.body.items[0]).toMatchObject({ projectId: t.projectId, name: "default", mtu: 1500 });
    expect(mine.body.items[0].gateway.mac).toMatch(/^52:54:01/);
    // A tenant cannot ask for another project's networks.
    const sneaky = await h.call(t.token, "GET", `/v1/networks?projectId=${other.projectId}`);
    expect(sneaky.body.items.map((n: { projectId: string }) => n.projectId)).toEqual([t.projectId]);
    const op = await h.call(h.operatorToken, "GET", `/v1/networks?projectId=${other.projectId}`);
    expect(op.body.items.map((n: { projectId: string }) => n.projectId)).toEqual([other.projectId]);
    const paged = await h.call(h.operatorToken, "GET", "/v1/networks?limit=1");
    expect(paged.body.items).toHaveLength(1);
    expect(paged.body.nextCursor).toEqual(expect.any(String));
    expect((await h.call(null, "GET", "/v1/networks")).status).toBe(401);
  });
});

describe("network map", () => {
  it("lists networks, ports on their nodes and overlay endpoints; its version grows with each change", async () => {
    const t = await h.tenant(undefined, { maxVps: 10 });
    const before = await networkMapVersion(h.db);
    const [v] = await createAndPlace(t.token, "m", 1);
    const map = await buildNetworkMap(h.db, {
      gateway: { node: "gateway", host: "127.0.0.1", port: 47999 },
      mtu: 9000,
    });
    expect(map.version).toBeGreaterThan(before);
    const port = map.ports.find((p) => p.vpsId === v!.id)!;
    const source = await h.db.node.findUniqueOrThrow({ where: { id: v!.nodeId! } });
    expect(port).toEqual({
      vpsId: v!.id,
      mac: v!.mac,
      ipv4: v!.ipv4,
      networkId: v!.networkId,
      node: source.name,
      hostname: "m0",
    });
    expect(map.networks.find((n) => n.id === v!.networkId)?.mtu).toBe(9000);
    expect((await buildNetworkMap(h.db)).networks[0]?.mtu).toBe(0); // the switches' default
    expect(map.nodes).toEqual(
      expect.arrayContaining([
        { id: "net-a", host: "127.0.0.1", port: 47001 },
        { id: "net-b", host: "127.0.0.1", port: 47002 },
        { id: "gateway", host: "127.0.0.1", port: 47999 },
      ]),
    );
    expect(map.gatewayNode).toBe("gateway");

    // A migration's commit moves the port to the target node, in a newer map.
    const target = await h.db.node.findFirstOrThrow({
      where: { name: source.name === "net-a" ? "net-b" : "net-a" },
    });
    const running = await h.db.vps.update({
      where: { id: v!.id },
      data: { state: "running", action: null, actionId: null },
    });
    const m = await h.db.migration.create({
      data: {
        vpsId: v!.id,
        sourceNodeId: source.id,
        targetNodeId: target.id,
        state: "committing",
        sourceEpoch: running.epoch,
        targetEpoch: running.epoch + 1,
      },
    });
    await h.db.vps.update({
      where: { id: v!.id },
      data: { state: "migrating", action: "migrate", actionId: m.id },
    });
    expect(await finishMigration(h.db, m.id, { state: "completed", actor: SYSTEM })).toBe(true);
    const after = await buildNetworkMap(h.db);
    expect(after.version).toBeGreaterThan(map.version);
    expect(after.ports.find((p) => p.vpsId === v!.id)).toMatchObject({ node: target.name, ipv4: v!.ipv4 });

    // A node's new overlay endpoint is a change too; a heartbeat alone is not.
    await register("net-a", "127.0.0.1:47011");
    const moved = await buildNetworkMap(h.db);
    expect(moved.version).toBeGreaterThan(after.version);
    expect(moved.nodes).toContainEqual({ id: "net-a", host: "127.0.0.1", port: 47011 });
    const nodeA = await h.db.node.findUniqueOrThrow({ where: { name: "net-a" } });
    const hb = await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${nodeA.id}/heartbeat`, {
      usage: { cpuPercent: 0, memoryUsedBytes: 0, vmCount: 0 },
      networkMapVersion: moved.version,
    });
    expect(hb.status).toBeLessThan(300);
    expect(await networkMapVersion(h.db)).toBe(moved.version);
    const stored = await h.db.node.findUniqueOrThrow({ where: { id: nodeA.id } });
    expect(Number(stored.networkMapVersion)).toBe(moved.version);
  });
});

describe("network map and fencing", () => {
  it("leaves a fenced node out in a newer map, and takes it back in a newer one when it is readmitted", async () => {
    await register("net-f", "127.0.0.1:47021");
    const node = await h.db.node.findUniqueOrThrow({ where: { name: "net-f" } });
    const before = await buildNetworkMap(h.db);
    expect(before.nodes).toContainEqual({ id: "net-f", host: "127.0.0.1", port: 47021 });
    // What recovery does to a silent node, then to one that came back clean.
    await h.db.node.update({ where: { id: node.id }, data: { status: "fenced" } });
    const fenced = await buildNetworkMap(h.db);
    expect(fenced.version).toBeGreaterThan(before.version);
    expect(fenced.nodes.map((n) => n.id)).not.toContain("net-f");
    await h.db.node.update({ where: { id: node.id }, data: { status: "ready" } });
    const back = await buildNetworkMap(h.db);
    expect(back.version).toBeGreaterThan(fenced.version);
    expect(back.nodes).toContainEqual({ id: "net-f", host: "127.0.0.1", port: 47021 });
    // Silent but not fenced changes nothing the map shows.
    await h.db.node.update({ where: { id: node.id }, data: { status: "unreachable" } });
    expect((await buildNetworkMap(h.db)).version).toBe(back.version);
  });
});

describe("GET /v1/network-map", () => {
  it("gives operators the map in the switches' shape and refuses tenants", async () => {
    const t = await h.tenant(undefined, { maxVps: 10 });
    const [v] = await createAndPlace(t.token, "g", 1);
    expect((await h.call(t.token, "GET", "/v1/network-map")).status).toBe(403);
    const r = await h.call(h.operatorToken, "GET", "/v1/network-map");
    expect(r.status).toBe(200);
    expect(r.body.version).toBe(await networkMapVersion(h.db));
    const net = r.body.networks.find((n: { id: string }) => n.id === v!.networkId);
    expect(net.gateway.ipv4).toMatch(/\.1$/);
    expect(r.body.ports).toContainEqual(
      expect.objectContaining({ vpsId: v!.id, ipv4: v!.ipv4, mac: v!.mac }),
    );
  });
});
