/**
 * The balancer, drain and node-failure recovery end to end: the API process with its workers,
 * PostgreSQL, Redis and three real node agents running the echo firmware, live migrations
 * between them. Timing is fast (balancer round every second, a node is unreachable after 3 s of
 * silence and fenced 4 s later) so the scenarios fit in a test.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { builtForTests } from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addEchoCatalog, built, type Cluster, root, startCluster, waitFor } from "./api-cluster.js";

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API
type Json = any;

const MiB = 2 ** 20;
const agentMigrates = builtForTests(root, ["apps/node-agent/dist/migration"]);
let c: Cluster;
const ids = new Map<string, string>(); // node name → id

async function nodes(): Promise<Json[]> {
  return (await c.call("GET", "/v1/nodes?limit=50")).body.items;
}

/** VPSes per node name (running ones; every VPS must be running). */
async function spread(): Promise<Map<string, number>> {
  const vpses = (await c.call("GET", "/v1/vps?limit=500")).body.items as Json[];
  const byId = new Map((await nodes()).map((n) => [n.id, n.name]));
  const out = new Map<string, number>([...ids.keys()].map((k) => [k, 0]));
  for (const v of vpses) {
    expect(v.state, `${v.name}: ${v.stateReason}`).toBe("running");
    const name = byId.get(v.nodeId)!;
    out.set(name, (out.get(name) ?? 0) + 1);
  }
  return out;
}

async function migrations(query: string): Promise<Json[]> {
  return (await c.call("GET", `/v1/migrations?limit=500&${query}`)).body.items;
}

/** Every node runs exactly the VMs it should: nothing twice, nothing missing (agents' own reports). */
async function eachVmOnce(): Promise<void> {
  await waitFor(
    "every node reports exactly its VPSes",
    async () => {
      const ns = await nodes();
      return ns.every((n) => n.status !== "ready" || n.usage.vmCount === n.reserved.vpsCount)
        ? true
        : undefined;
    },
    60_000,
  );
}

describe.skipIf(!built || !agentMigrates)("balancer, drain and node failure with 3 real agents", () => {
  beforeAll(async () => {
    // 24 MiB per node: eighteen 1 MiB VPSes fill one to 75%.
    c = await startCluster({
      agents: 3,
      agentEnv: { SKIFF_AGENT_MEMORY: String(24 * MiB), SKIFF_AGENT_CPUS: "2" },
      apiEnv: {
        SKIFF_BALANCER_INTERVAL_MS: "1000",
        SKIFF_NODE_DEAD_AFTER_MS: "3000",
        SKIFF_NODE_FENCE_AFTER_MS: "4000",
        // This test polls a lot.
        SKIFF_RATE_LIMIT_PER_MINUTE: "100000",
      },
    });
    for (const n of await nodes()) ids.set(n.name, n.id);
    await addEchoCatalog(c);
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it("evens out 18 VPSes started on one node within 12 migrations, then stays quiet", async () => {
    const created = await Promise.all(
      Array.from({ length: 18 }, (_, i) =>
        c.call("POST", "/v1/vps", { name: `vm-${i}`, plan: "fw", image: "echo", node: "node-1" }),
      ),
    );
    expect(created.map((r) => r.status)).toEqual(Array(18).fill(202));
    await waitFor(
      "18 VPSes running on node-1",
      async () => ((await spread()).get("node-1") === 18 ? true : undefined),
      180_000,
    ).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${c.api.output().slice(-3000)}`);
    });

    // The dry run shows the way; nothing moves yet.
    const dry = await c.call("POST", "/v1/balancer/plan", {});
    expect(dry.status).toBe(200);
    expect(dry.body.plan.scoreBefore).toBeGreaterThan(0.1);
    expect(dry.body.plan.moves.length).toBeGreaterThan(6);
    expect(dry.body.plan.moves.length).toBeLessThanOrEqual(12);
    expect((await spread()).get("node-1")).toBe(18);

    const started = Date.now();
    expect((await c.call("PUT", "/v1/balancer", { enabled: true })).status).toBe(200);
    let most = 0;
    const settled = await waitFor(
      "the balancer settles",
      async () => {
        const active = await migrations("active=true");
        const perNode = new Map<string, number>();
        for (const m of active)
          for (const n of [m.sourceNodeId, m.targetNodeId]) perNode.set(n, (perNode.get(n) ?? 0) + 1);
        most = Math.max(most, ...perNode.values(), 0);
        if (active.length > 0) return undefined;
        const b = (await c.call("GET", "/v1/balancer")).body;
        return b.score.current <= b.score.floor ? b : undefined;
      },
      240_000,
    );
    const seconds = (Date.now() - started) / 1000;
    const done = await migrations("trigger=balancer");
    expect(done.every((m) => m.state === "completed")).toBe(true);
    expect(done.length).toBeLessThanOrEqual(12);
    expect(most).toBeLessThanOrEqual(2); // the per-node cap
    const counts = [...(await spread()).values()].sort((a, b) => a - b);
    expect(counts[2]! - counts[0]!).toBeLessThanOrEqual(2);
    console.log(
      `balancer: ${done.length} migrations, ${seconds.toFixed(1)} s to the floor, score ${settled.score.current.toFixed(4)}, spread ${counts.join("/")}`,
    );

    // Quiet: several more rounds and no migration.
    await sleep(6000);
    expect((await migrations("trigger=balancer")).length).toBe(done.length);
    await eachVmOnce();
    const events = (await c.call("GET", "/v1/events?resourceType=balancer&limit=100")).body.items as Json[];
    expect(events.some((e) => e.type === "balancer.moves_started" && e.details.moves.length > 0)).toBe(true);
    expect((await c.call("PUT", "/v1/balancer", { enabled: false })).status).toBe(200);
  }, 600_000);

  it("drains a node under load: every VPS migrates off within the caps, progress visible", async () => {
    const node2 = ids.get("node-2")!;
    const before = (await spread()).get("node-2")!;
    expect(before).toBeGreaterThan(3);
    const drainStarted = Date.now();
    expect((await c.call("POST", `/v1/nodes/${node2}/drain`, {})).status).toBe(200);
    // Load while it drains: new VPSes arrive (never onto the draining node).
    const extra = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        c.call("POST", "/v1/vps", { name: `late-${i}`, plan: "fw", image: "echo" }),
      ),
    );
    expect(extra.map((r) => r.status)).toEqual(Array(4).fill(202));
    let most = 0;
    const seen: Json[] = [];
    const progress = await waitFor(
      "node-2 drained",
      async () => {
        const p = (await c.call("GET", `/v1/nodes/${node2}/drain`)).body;
        seen.push(p);
        most = Math.max(most, p.migrating);
        return p.done ? p : undefined;
      },
      240_000,
    );
    expect(progress).toMatchObject({ remaining: 0, migrating: 0, completed: before, blocked: [] });
    console.log(`drain: ${before} VPSes off node-2 in ${((Date.now() - drainStarted) / 1000).toFixed(1)} s`);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
    expect(seen.some((p) => p.remaining > 0 && p.remaining < before)).toBe(true);
    await waitFor(
      "the late VPSes run",
      async () => ((await spread()).get("node-2") === 0 ? true : undefined),
      120_000,
    );
    const drains = await migrations(`trigger=drain`);
    expect(drains).toHaveLength(before);
    expect(drains.every((m) => m.state === "completed" && m.sourceNodeId === node2)).toBe(true);
    // The round after the last migration says so, once.
    await waitFor(
      "drain_completed event",
      async () => {
        const events = (await c.call("GET", `/v1/events?resourceId=${node2}&limit=100`)).body.items as Json[];
        return events.some((e) => e.type === "node.drain_completed") ? true : undefined;
      },
      30_000,
    );
    await sleep(3000);
    const events = (await c.call("GET", `/v1/events?resourceId=${node2}&limit=100`)).body.items as Json[];
    expect(events.filter((e) => e.type === "node.drain_completed")).toHaveLength(1);
    expect((await c.call("POST", `/v1/nodes/${node2}/undrain`, {})).status).toBe(200);
    await eachVmOnce();
  }, 600_000);

  it("recovers the VPSes of a kill -9'd agent elsewhere exactly once; back, it runs nothing twice", async () => {
    const victim = c.agents.find((a) => a.name === "node-3")!;
    const nodeId = ids.get("node-3")!;
    const vpses = ((await c.call("GET", `/v1/vps?nodeId=${nodeId}&limit=500`)).body.items as Json[]).filter(
      (v) => v.state === "running",
    );
    expect(vpses.length).toBeGreaterThan(3);
    const killedAt = Date.now();
    // The agent dies; its VMM processes live on (an agent restart must not stop VMs), like a
    // node cut off from the network: the worst case for running something twice.
    await victim.proc.stop("SIGKILL");

    const recovered = await waitFor(
      "node-3's VPSes run elsewhere",
      async () => {
        const now = await Promise.all(vpses.map(async (v) => (await c.call("GET", `/v1/vps/${v.id}`)).body));
        return now.every((v) => v.state === "running" && v.nodeId !== nodeId) ? now : undefined;
      },
      120_000,
    );
    const seconds = (Date.now() - killedAt) / 1000;
    const node = (await c.call("GET", `/v1/nodes/${nodeId}`)).body;
    expect(node.status).toBe("fenced");
    for (const v of recovered) {
      const before = vpses.find((x) => x.id === v.id)!;
      expect(v.epoch).toBe(before.epoch + 1);
      const evs = (await c.call("GET", `/v1/events?resourceId=${v.id}&type=vps.recovered`)).body
        .items as Json[];
      expect(evs).toHaveLength(1);
      expect(evs[0].message).toMatch(/^node node-3 failed: cold-restarted on node-[12]/);
    }
    console.log(`recovery: ${vpses.length} VPSes running elsewhere ${seconds.toFixed(1)} s after kill -9`);
    const timeline = [
      ...((await c.call("GET", `/v1/events?resourceId=${nodeId}&limit=100`)).body.items as Json[]),
      ...((await c.call("GET", `/v1/events?resourceId=${vpses[0].id}&limit=100`)).body.items as Json[]),
    ]
      .filter((e) => Date.parse(e.at) >= killedAt - 1000)
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
      .map(
        (e) =>
          `+${((Date.parse(e.at) - killedAt) / 1000).toFixed(1)}s ${e.type} ${e.fromState ?? ""}>${e.toState ?? ""} ${e.message}`,
      );
    console.log(timeline.join("\n"));
    // How long each took: fenced at about deadline + grace, then restarted one after another.
    const restarts: number[] = [];
    for (const v of vpses) {
      const evs = (await c.call("GET", `/v1/events?resourceId=${v.id}&limit=100`)).body.items as Json[];
      const running = evs.filter((e) => e.toState === "running" && Date.parse(e.at) > killedAt);
      restarts.push((Date.parse(running.at(-1).at) - killedAt) / 1000);
    }
    console.log(
      `restarted VPSes running after ${Math.min(...restarts).toFixed(1)}-${Math.max(...restarts).toFixed(1)} s`,
    );

    // It comes back with its old VMs still running: they are destroyed, not resumed, and the
    // node is readmitted once clean.
    await c.startAgent(victim);
    await waitFor(
      "node-3 readmitted",
      async () => ((await c.call("GET", `/v1/nodes/${nodeId}`)).body.status === "ready" ? true : undefined),
      120_000,
    );
    await eachVmOnce();
    const back = (await c.call("GET", `/v1/nodes/${nodeId}`)).body;
    expect(back.usage.vmCount).toBe(0);
    for (const v of vpses) {
      const now = (await c.call("GET", `/v1/vps/${v.id}`)).body;
      expect(now.state).toBe("running");
      expect(now.nodeId).not.toBe(nodeId);
      const evs = (await c.call("GET", `/v1/events?resourceId=${v.id}&type=vps.recovered`)).body
        .items as Json[];
      expect(evs).toHaveLength(1);
    }
    const events = (await c.call("GET", `/v1/events?resourceId=${nodeId}&limit=50`)).body.items as Json[];
    const types = events.map((e) => e.type);
    expect(types).toContain("node.unreachable");
    expect(types).toContain("node.fenced");
    expect(types).toContain("node.readmitted");
  }, 600_000);

  it("drains a node holding a stopped and a suspended VPS: both move cold, then start where they went", async () => {
    // node-3 came back empty from the last case.
    const node3 = ids.get("node-3")!;
    const made = await Promise.all(
      ["cold-stopped", "cold-suspended"].map((name) =>
        c.call("POST", "/v1/vps", { name, plan: "fw", image: "echo", node: "node-3" }),
      ),
    );
    const [stopped, suspended] = made.map((r) => r.body.id as string) as [string, string];
    const settle = (id: string, state: string) =>
      waitFor(`${id} ${state}`, async () => {
        const v = (await c.call("GET", `/v1/vps/${id}`)).body;
        return v.state === state && v.action === null ? v : undefined;
      });
    await Promise.all([settle(stopped, "running"), settle(suspended, "running")]);
    expect((await c.call("POST", `/v1/vps/${stopped}/actions/stop`)).status).toBe(202);
    expect((await c.call("POST", `/v1/vps/${suspended}/actions/suspend`)).status).toBe(202);
    const before = await Promise.all([settle(stopped, "stopped"), settle(suspended, "suspended")]);

    expect((await c.call("POST", `/v1/nodes/${node3}/drain`, {})).status).toBe(200);
    const progress = await waitFor(
      "node-3 drained",
      async () => {
        const p = (await c.call("GET", `/v1/nodes/${node3}/drain`)).body;
        return p.done ? p : undefined;
      },
      120_000,
    );
    expect(progress).toMatchObject({ remaining: 0, migrating: 0, blocked: [] });
    for (const [i, id] of [stopped, suspended].entries()) {
      const v = (await c.call("GET", `/v1/vps/${id}`)).body;
      expect(v).toMatchObject({ state: before[i].state, action: null, epoch: before[i].epoch + 1 });
      expect(v.nodeId).not.toBe(node3);
      const [m] = await migrations(`vpsId=${id}`);
      expect(m).toMatchObject({ kind: "cold", state: "completed", trigger: "drain", sourceNodeId: node3 });
    }
    // The suspended guest's snapshot crossed; the stopped one has no disk (firmware), nothing to send.
    expect((await migrations(`vpsId=${suspended}`))[0].bytesSent).toBeGreaterThan(0);
    await eachVmOnce();
    expect((await c.call("POST", `/v1/vps/${stopped}/actions/start`)).status).toBe(202);
    expect((await c.call("POST", `/v1/vps/${suspended}/actions/restore`)).status).toBe(202);
    await Promise.all([settle(stopped, "running"), settle(suspended, "running")]);
    await eachVmOnce();
    expect((await c.call("POST", `/v1/nodes/${node3}/undrain`, {})).status).toBe(200);
  }, 300_000);
});
