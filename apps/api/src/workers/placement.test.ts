// Placement against the real database: concurrent decisions never overbook a node, spread evenly,
// and honour placement groups. (The agents are not involved: see cluster.test.ts for that.)
import { createLogger } from "@skiff/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../domain/placement.js";
import { nodeLoads } from "../services/capacity.js";
import { AGENT_TOKEN, type Harness, startHarness } from "../test-support/harness.js";
import { NoCapacity, placeVps } from "./provision.js";

const MiB = 2 ** 20;
let h: Harness;

async function register(name: string, memoryBytes: number) {
  const r = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name,
    grpcAddress: "127.0.0.1:1",
    capacity: { cpus: 2, memoryBytes, diskBytes: 100 * 1024 * MiB },
  });
  return r.body.nodeId as string;
}

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe("placement with reservations in PostgreSQL", () => {
  it("places 20 concurrent requests onto 3 nodes with room for 6 each: 18 placed 6/6/6, 2 refused", async () => {
    const ids = await Promise.all(["p1", "p2", "p3"].map((n) => register(n, 6 * 64 * MiB)));
    const { token } = await h.tenant(undefined, { maxVps: 100 });
    const vpses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.call(token, "POST", "/v1/vps", { name: `c${i}`, plan: "small" }),
      ),
    );
    expect(vpses.map((r) => (r.status === 202 ? 202 : `${r.status} ${JSON.stringify(r.body)}`))).toEqual(
      Array(20).fill(202),
    );
    const ctx = { db: h.db, agents: h.agents, policy: DEFAULT_POLICY, log: createLogger("test") };
    const results = await Promise.allSettled(
      vpses.map(async (r) => {
        const v = await h.db.vps.findUniqueOrThrow({ where: { id: r.body.id } });
        return placeVps(ctx, v, { vpsId: v.id, actionId: v.actionId! });
      }),
    );
    const placed = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected");
    expect(placed).toHaveLength(18);
    expect(refused).toHaveLength(2);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(NoCapacity);

    const loads = (await nodeLoads(h.db)).filter((l) => ids.includes(l.id));
    expect(loads.map((l) => l.reserved.vpsCount)).toEqual([6, 6, 6]);
    for (const l of loads) expect(l.reserved.memoryBytes).toBeLessThanOrEqual(l.memoryBytes);
    const states = await h.db.vps.groupBy({
      by: ["state"],
      where: { projectId: vpses[0]!.body.projectId },
      _count: true,
    });
    expect(Object.fromEntries(states.map((s) => [s.state, s._count]))).toEqual({
      provisioning: 18,
      pending: 2,
    });
    const epochs = await h.db.vps.findMany({ where: { state: "provisioning" }, select: { epoch: true } });
    expect(epochs.every((e) => e.epoch === 1)).toBe(true);
    const placedEvents = await h.db.event.count({ where: { type: "vps.placed" } });
    expect(placedEvents).toBe(18);
    // Placing again is a no-op: the VPS is no longer pending.
    const again = await h.db.vps.findFirstOrThrow({ where: { state: "provisioning" } });
    expect(await placeVps(ctx, again, { vpsId: again.id, actionId: again.actionId! })).toBeNull();
  });
});
