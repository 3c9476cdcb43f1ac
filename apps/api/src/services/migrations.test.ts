// Migration requests, cancels and the worker's bookkeeping on the real database and Redis.
// (Moving real VMs between real agents is in tests/e2e.)
import { createLogger } from "@skiff/common";
import { freePort } from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../domain/placement.js";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";
import { runMigration } from "../workers/migration.js";
import { nodeLoads } from "./capacity.js";

const MiB = 2 ** 20;
let h: Harness;
let nodes: Record<string, string>;
let tenant: { token: string; projectId: string };

async function register(name: string) {
  // Agents that are not there: nothing listens on these ports.
  const r = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name,
    grpcAddress: `127.0.0.1:${await freePort()}`,
    capacity: { cpus: 2, memoryBytes: 1024 * MiB, diskBytes: 10_000 * MiB },
  });
  return r.body.nodeId as string;
}

/** A VPS already running on `node` (as if provisioned). */
async function runningOn(node: string, name: string, extra: { placementGroup?: string } = {}) {
  const r = await h.call(tenant.token, "POST", "/v1/vps", { name, plan: "small", ...extra });
  expect(r.status).toBe(202);
  await h.db.vps.update({
    where: { id: r.body.id },
    data: { state: "running", nodeId: nodes[node], epoch: 1, action: null, actionId: null },
  });
  return r.body.id as string;
}

beforeAll(async () => {
  h = await startHarness();
  nodes = { a: await register("mig-a"), b: await register("mig-b"), c: await register("mig-c") };
  tenant = await h.tenant();
});
afterAll(async () => {
  await h?.close();
});

describe("POST /v1/vps/:id/migrate", () => {
  it("queues a migration: the VPS holds it, the target reserves its size, a job is enqueued", async () => {
    const id = await runningOn("a", "m1");
    const before = (await nodeLoads(h.db)).find((l) => l.id === nodes.b)!.reserved.vpsCount;
    const r = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, {
      targetNode: "mig-b",
      maxDowntimeMs: 40,
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({
      state: "queued",
      vpsId: id,
      sourceNodeId: nodes.a,
      targetNodeId: nodes.b,
      sourceEpoch: 1,
      targetEpoch: 2,
      trigger: "manual",
      options: { maxDowntimeMs: 40, bandwidthBytesPerSec: null },
      rounds: [],
    });
    const v = (await h.call(tenant.token, "GET", `/v1/vps/${id}`)).body;
    expect(v).toMatchObject({ state: "migrating", action: "migrate", nodeId: nodes.a });
    expect((await nodeLoads(h.db)).find((l) => l.id === nodes.b)!.reserved.vpsCount).toBe(before + 1);
    expect((await h.queues.migration.getJob(r.body.id))?.data).toEqual({ migrationId: r.body.id });

    const again = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, {});
    expect([again.status, again.body.error.code]).toEqual([409, "VPS_BUSY"]);
    expect((await h.call(tenant.token, "POST", `/v1/vps/${id}/actions/stop`)).status).toBe(409);
    const active = await h.call(h.operatorToken, "GET", `/v1/migrations?active=true&vpsId=${id}`);
    expect(active.body.items.map((m: { id: string }) => m.id)).toEqual([r.body.id]);

    // Cancel while queued: rolled back at once, the VPS runs where it was, the reservation goes.
    const c = await h.call(h.operatorToken, "POST", `/v1/migrations/${r.body.id}/cancel`);
    expect([c.status, c.body.state, c.body.errorCode]).toEqual([202, "rolled-back", "MIGRATION_CANCELLED"]);
    expect((await h.call(tenant.token, "GET", `/v1/vps/${id}`)).body).toMatchObject({
      state: "running",
      action: null,
      nodeId: nodes.a,
      epoch: 1,
    });
    expect((await nodeLoads(h.db)).find((l) => l.id === nodes.b)!.reserved.vpsCount).toBe(before);
    const twice = await h.call(h.operatorToken, "POST", `/v1/migrations/${r.body.id}/cancel`);
    expect([twice.status, twice.body.error.code]).toEqual([409, "INVALID_STATE"]);
    const types = (await h.call(h.operatorToken, "GET", `/v1/events?resourceId=${r.body.id}`)).body.items.map(
      (e: { type: string }) => e.type,
    );
    expect(types).toEqual(["migration.queued", "migration.rolled-back"]);
  });

  it("refuses what cannot be: tenants, wrong states, same node, unknown node, nowhere to go", async () => {
    const id = await runningOn("a", "m2");
    expect((await h.call(tenant.token, "POST", `/v1/vps/${id}/migrate`, {})).status).toBe(403);
    const same = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, { targetNode: "mig-a" });
    expect([same.status, same.body.error.code]).toEqual([422, "UNPROCESSABLE"]);
    const unknown = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, { targetNode: "mig-zz" });
    expect([unknown.status, unknown.body.error.details.field]).toEqual([422, "targetNode"]);
    const bad = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, { maxDowntimeMs: -1 });
    expect(bad.status).toBe(400);
    await h.call(h.operatorToken, "POST", `/v1/nodes/${nodes.b}/drain`);
    await h.call(h.operatorToken, "POST", `/v1/nodes/${nodes.c}/drain`);
    try {
      const nowhere = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, {});
      expect([nowhere.status, nowhere.body.error.code]).toEqual([422, "NO_NODE_FITS"]);
      expect(nowhere.body.error.details.rejected).toMatchObject({ "mig-b": "node is in maintenance" });
    } finally {
      await h.call(h.operatorToken, "POST", `/v1/nodes/${nodes.b}/undrain`);
      await h.call(h.operatorToken, "POST", `/v1/nodes/${nodes.c}/undrain`);
    }
    await h.db.vps.update({ where: { id }, data: { state: "error" } });
    const broken = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, {});
    expect([broken.status, broken.body.error.code]).toEqual([409, "INVALID_STATE"]);
    // A stopped VPS moves cold: it stays stopped, held by the move.
    await h.db.vps.update({ where: { id }, data: { state: "stopped" } });
    const cold = await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, {});
    expect([cold.status, cold.body.kind, cold.body.state]).toEqual([202, "cold", "queued"]);
    expect((await h.call(tenant.token, "GET", `/v1/vps/${id}`)).body).toMatchObject({
      state: "stopped",
      action: "migrate",
    });
    await h.call(h.operatorToken, "POST", `/v1/migrations/${cold.body.id}/cancel`);
    const missing = await h.call(h.operatorToken, "POST", `/v1/vps/${crypto.randomUUID()}/migrate`, {});
    expect(missing.status).toBe(404);
  });

  it("keeps strict anti-affinity when the scheduler picks the target", async () => {
    await h.call(tenant.token, "POST", "/v1/placement-groups", { name: "spread", policy: "anti_affinity" });
    await runningOn("a", "g1", { placementGroup: "spread" });
    await runningOn("b", "g2", { placementGroup: "spread" });
    const g3 = await runningOn("c", "g3", { placementGroup: "spread" });
    const r = await h.call(h.operatorToken, "POST", `/v1/vps/${g3}/migrate`, {});
    expect([r.status, r.body.error?.code]).toEqual([422, "NO_NODE_FITS"]);
    const g1 = (await h.db.vps.findFirstOrThrow({ where: { name: "g1" } })).id;
    await h.db.vps.update({ where: { id: g1 }, data: { state: "deleted", nodeId: null } });
    const ok = await h.call(h.operatorToken, "POST", `/v1/vps/${g3}/migrate`, {});
    expect([ok.status, ok.body.targetNodeId]).toEqual([202, nodes.a]);
    await h.call(h.operatorToken, "POST", `/v1/migrations/${ok.body.id}/cancel`);
  });
});

describe("migration worker", () => {
  const ctx = () => ({ db: h.db, agents: h.agents, policy: DEFAULT_POLICY, log: createLogger("test") });

  it("waits for a free slot on its nodes, and fails cleanly when the target cannot prepare", async () => {
    const busy = await runningOn("a", "w1");
    const first = (await h.call(h.operatorToken, "POST", `/v1/vps/${busy}/migrate`, { targetNode: "mig-b" }))
      .body;
    await h.db.migration.update({ where: { id: first.id }, data: { state: "preparing" } }); // in flight
    const id = await runningOn("a", "w2");
    const m = (await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, { targetNode: "mig-c" })).body;
    expect(await runMigration(ctx(), { migrationId: m.id }, { number: 1, max: 8 }, { perNode: 1 })).toBe(
      "wait",
    );
    expect((await h.db.migration.findUniqueOrThrow({ where: { id: m.id } })).state).toBe("queued");

    expect(await runMigration(ctx(), { migrationId: m.id }, { number: 1, max: 8 }, { perNode: 2 })).toBe(
      "failed",
    );
    const done = (await h.call(h.operatorToken, "GET", `/v1/migrations/${m.id}`)).body;
    expect(done).toMatchObject({ state: "failed", errorCode: "AGENT_UNAVAILABLE" });
    expect(done.error).toMatch(/^the target could not prepare/);
    expect(done.finishedAt).not.toBeNull();
    expect((await h.call(tenant.token, "GET", `/v1/vps/${id}`)).body).toMatchObject({
      state: "running",
      action: null,
      nodeId: nodes.a,
      epoch: 1,
    });
  });

  it("a re-run after a crash mid-migration asks the agents, and keeps asking while they are away", async () => {
    const id = await runningOn("a", "w3");
    const m = (await h.call(h.operatorToken, "POST", `/v1/vps/${id}/migrate`, { targetNode: "mig-c" })).body;
    await h.db.migration.update({ where: { id: m.id }, data: { state: "precopy" } });
    // Target agent unreachable: cannot know whether it committed; retried, then given up as unknown.
    await expect(
      runMigration(ctx(), { migrationId: m.id }, { number: 1, max: 3 }, { perNode: 2 }),
    ).rejects.toMatchObject({
      code: "AGENT_UNAVAILABLE",
    });
    expect(await runMigration(ctx(), { migrationId: m.id }, { number: 3, max: 3 }, { perNode: 2 })).toBe(
      "failed",
    );
    const done = (await h.call(h.operatorToken, "GET", `/v1/migrations/${m.id}`)).body;
    expect(done.errorCode).toBe("MIGRATION_OUTCOME_UNKNOWN");
    expect((await h.call(tenant.token, "GET", `/v1/vps/${id}`)).body).toMatchObject({
      state: "unknown",
      action: null,
    });
  });
});
