// The balancer's job, routes and failure recovery on real PostgreSQL and Redis (no agents here:
// the migrations it starts are completed the way the migration worker records a commit; the
// e2e suite runs the same against real agents).
import { randomUUID } from "node:crypto";
import { createLogger } from "@skiff/common";
import { freePort } from "@skiff/devkit";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../domain/placement.js";
import { QUEUE_NAMES } from "../../queues.js";
import { AGENT_TOKEN, type Harness, startHarness } from "../../test-support/harness.js";
import { balancerTick, migrationLauncher, withLock } from "../../workers/balancer.js";
import { finishMigration } from "../migrations.js";
import { DEFAULT_SETTINGS } from "./model.js";
import type { RecoveryDeps } from "./recovery.js";
import { runRecovery } from "./recovery.js";
import { type BalancerDeps, runRound } from "./round.js";
import { settingsView } from "./settings.js";
import { VmStatsStore } from "./vm-stats.js";

const MiB = 2 ** 20;
const log = createLogger("balancer-test");
let h: Harness;
let deps: BalancerDeps & RecoveryDeps;
let enqueued: { vpsId: string; actionId: string }[] = [];
let planId: string;
let linuxImageId: string;
let disklessImageId: string;

beforeAll(async () => {
  h = await startHarness();
  const ctx = { db: h.db, agents: h.agents, policy: DEFAULT_POLICY, log };
  deps = {
    ...ctx,
    stats: new VmStatsStore(h.redis),
    migrations: migrationLauncher(ctx, h.queues),
    enqueueProvision: async (job) => {
      enqueued.push(job);
    },
    deadAfterMs: 10_000,
    fenceAfterMs: 30_000,
  };
  planId = (await h.db.plan.findUniqueOrThrow({ where: { name: "small" } })).id;
  linuxImageId = (await h.db.image.findFirstOrThrow({ where: { isDefault: true } })).id;
  disklessImageId = (
    await h.db.image.create({ data: { name: "fw", bootMode: "firmware", kernelPath: "/fw.elf" } })
  ).id;
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  enqueued = [];
  await h.db.migration.deleteMany();
  await h.db.vps.deleteMany();
  await h.db.node.deleteMany();
  await h.db.balancerSettings.deleteMany();
  await h.db.event.deleteMany();
});

/**
 * Registers a node through the agents' endpoint (no agent listens on its address), keeping disks
 * locally or on the shared storage `sharedStorage` names.
 */
async function node(name: string, memoryMiB = 4096, sharedStorage?: string): Promise<string> {
  const r = await h.call(AGENT_TOKEN, "POST", "/v1/nodes/register", {
    name,
    grpcAddress: `127.0.0.1:${await freePort()}`,
    capacity: { cpus: 8, memoryBytes: memoryMiB * MiB, diskBytes: 100_000 * MiB },
    ...(sharedStorage ? { storage: { backend: "shared", id: sharedStorage } } : {}),
  });
  expect(r.status).toBe(200);
  return r.body.nodeId;
}

async function vps(
  nodeId: string,
  name: string,
  opts: {
    state?: "running" | "stopped" | "unknown" | "error";
    imageId?: string;
    memoryMiB?: number;
    diskStorageId?: string;
  } = {},
) {
  return h.db.vps.create({
    data: {
      projectId: h.defaultProjectId,
      name,
      planId,
      imageId: opts.imageId ?? disklessImageId,
      nodeId,
      state: opts.state ?? "running",
      epoch: 1,
      vcpus: 1,
      memoryBytes: BigInt((opts.memoryMiB ?? 64) * MiB),
      diskBytes: 0n,
      cpuShare: 10,
      diskStorageId: opts.diskStorageId ?? null,
    },
  });
}

/** Records a migration's commit the way the migration worker does when the agents report it. */
async function commitAll(): Promise<number> {
  const open = await h.db.migration.findMany({ where: { finishedAt: null } });
  for (const m of open) {
    await h.db.migration.update({ where: { id: m.id }, data: { state: "committing" } });
    await finishMigration(h.db, m.id, { state: "completed", actor: { type: "system", id: null } });
  }
  return open.length;
}

async function perNode(): Promise<number[]> {
  const rows = await h.db.vps.groupBy({ by: ["nodeId"], where: { state: { not: "deleted" } }, _count: true });
  return rows.map((r) => r._count).sort((a, b) => a - b);
}

const op = () => h.operatorToken;

/** PUT through the whole HTTP pipeline (the harness's call() covers the other verbs). */
async function put(token: string, url: string, body: unknown) {
  const res = await h.app.inject({
    method: "PUT",
    url,
    headers: { authorization: `Bearer ${token}` },
    payload: body as object,
  });
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

describe("settings and score (GET/PUT /v1/balancer)", () => {
  it("starts from the defaults, shows the score per node, and records changes as events", async () => {
    const a = await node("a");
    await node("b");
    for (let i = 0; i < 6; i++) await vps(a, `v${i}`);
    // An agent heartbeat carries measured load: it shows up per node.
    const hb = await h.call(AGENT_TOKEN, "POST", `/v1/nodes/${a}/heartbeat`, {
      usage: { cpuPercent: 50, memoryUsedBytes: 0, vmCount: 6 },
      vms: (await h.db.vps.findMany()).map((v) => ({
        vmId: v.id,
        epoch: 1,
        state: "running",
        memoryBytes: 64 * MiB,
        cpuShare: 0.5,
        dirtyPagesPerSec: 1000,
      })),
    });
    expect(hb.status).toBe(200);
    const g = await h.call(op(), "GET", "/v1/balancer");
    expect(g.status).toBe(200);
    expect(g.body.settings).toEqual(settingsView(DEFAULT_SETTINGS));
    const na = g.body.nodes.find((n: { name: string }) => n.name === "a");
    expect(na).toMatchObject({
      vpsCount: 6,
      cpu: (6 * 0.5) / 8,
      memory: (6 * 64) / 4096,
      dirtyPagesPerSec: 6000,
    });
    expect(na.deviation).toBeGreaterThan(0);
    expect(g.body.score.current).toBeGreaterThan(0.1);

    const bad = await put(op(), "/v1/balancer", { threshold: -1, mode: "sideways" });
    expect(bad.status).toBe(400);
    const tenant = await h.tenant();
    expect((await put(tenant.token, "/v1/balancer", { enabled: true })).status).toBe(403);
    const changed = await put(op(), "/v1/balancer", { enabled: true, mode: "pack", threshold: 0.1 });
    expect(changed.status).toBe(200);
    expect(changed.body.settings).toMatchObject({ enabled: true, mode: "pack", threshold: 0.1 });
    expect(changed.body.score.mode).toBe("pack");
    const ev = await h.db.event.findFirstOrThrow({ where: { type: "balancer.settings_changed" } });
    expect(ev.message).toBe("enabled: false → true, mode: spread → pack, threshold: 0.02 → 0.1");
  });

  it("dry run: the plan with the score before and after, and nothing moves", async () => {
    const a = await node("a");
    await node("b");
    await node("c");
    for (let i = 0; i < 12; i++) await vps(a, `v${String(i).padStart(2, "0")}`);
    const r = await h.call(op(), "POST", "/v1/balancer/plan", {});
    expect(r.status).toBe(200);
    expect(r.body.plan.moves.length).toBeGreaterThanOrEqual(6);
    expect(r.body.plan.moves.length).toBeLessThanOrEqual(8);
    expect(r.body.plan.scoreAfter).toBeLessThan(r.body.plan.scoreBefore);
    expect(r.body.plan.outcome).toBe("balanced");
    expect(r.body.nextRound.moves.length).toBe(2); // 2 per node at a time: all leave node a
    expect(r.body.plan.moves[0].reason).toMatch(/^spread: a \(cpu 0%, memory 19%\) is busier than [bc]/);
    const packed = await h.call(op(), "POST", "/v1/balancer/plan", { mode: "pack" });
    expect(packed.body.plan.moves).toEqual([]);
    expect(await h.db.migration.count()).toBe(0);
    expect(await perNode()).toEqual([12]);
  });
});

describe("balancer round", () => {
  it("evens out a skewed cluster in a bounded number of moves, then stays quiet", async () => {
    const a = await node("a");
    await node("b");
    await node("c");
    for (let i = 0; i < 30; i++) await vps(a, `v${String(i).padStart(2, "0")}`);
    await put(op(), "/v1/balancer", { enabled: true });
    let moves = 0;
    let rounds = 0;
    let quiet = 0;
    while (quiet < 4 && rounds < 40) {
      const r = await runRound(deps);
      rounds++;
      const started = r.balance!.launched.filter((l) => l.migrationId).length;
      expect(r.balance!.launched.every((l) => !l.refused)).toBe(true);
      // Never more than the caps: 2 per node, 4 in all.
      expect(started).toBeLessThanOrEqual(2);
      moves += started;
      quiet = started === 0 ? quiet + 1 : 0;
      await commitAll();
    }
    expect(moves).toBeLessThanOrEqual(20);
    const counts = await perNode();
    expect(counts[2]! - counts[0]!).toBeLessThanOrEqual(2);
    // Every migration was the balancer's, each with its reason; the rounds are events too.
    const ms = await h.db.migration.findMany();
    expect(
      ms.every(
        (m) => m.trigger === "balancer" && /^spread: a .*score [\d.]+ → [\d.]+ \(spread\)$/.test(m.reason!),
      ),
    ).toBe(true);
    const rounds_ = await h.db.event.findMany({
      where: { resourceType: "balancer", type: "balancer.moves_started" },
    });
    expect(rounds_.length).toBeGreaterThan(0);
    expect((rounds_[0]!.details as { moves: unknown[] }).moves.length).toBeGreaterThan(0);
    // Quiet: the last moving round reached the floor; the rounds after it wrote nothing.
    const last = await h.db.event.findFirstOrThrow({
      where: { resourceType: "balancer" },
      orderBy: { id: "desc" },
    });
    expect(last.type).toBe("balancer.moves_started");
    expect((last.details as { outcome: string }).outcome).toBe("balanced");
    const lastMigration = await h.db.event.findFirstOrThrow({
      where: { type: "migration.queued" },
      orderBy: { id: "desc" },
    });
    expect(lastMigration.id).toBeLessThan(last.id);
    const settings = await h.db.balancerSettings.findUniqueOrThrow({ where: { id: "cluster" } });
    expect(settings.balancing).toBe(false);
    expect(settings.lastScore).toBeLessThan(0.01);
  });

  it("does not move a VPS another action holds (the migration service refuses; the plan moves on)", async () => {
    const a = await node("a");
    await node("b");
    for (let i = 0; i < 8; i++) await vps(a, `v${i}`);
    await put(op(), "/v1/balancer", { enabled: true, maxConcurrentPerNode: 8, maxMovesPerRound: 8 });
    // Stopped VPSes are not live-migrated.
    await h.db.vps.updateMany({ where: { name: { in: ["v0", "v1"] } }, data: { state: "stopped" } });
    const r = await runRound(deps);
    const moved = r.balance!.launched.map((l) => l.move.vpsName);
    expect(moved).not.toContain("v0");
    expect(moved).not.toContain("v1");
    expect(r.balance!.plan.skipped["not running"]).toBe(2);
    // The moved VPSes are migrating, with the balancer's migration holding them.
    const migrating = await h.db.vps.findMany({ where: { state: "migrating" } });
    expect(migrating.map((v) => v.action)).toEqual(moved.map(() => "migrate"));
  });

  it("does nothing when disabled (drains aside)", async () => {
    const a = await node("a");
    await node("b");
    for (let i = 0; i < 8; i++) await vps(a, `v${i}`);
    const r = await runRound(deps);
    expect(r.balance).toBeUndefined();
    expect(await h.db.migration.count()).toBe(0);
  });
});

describe("drain", () => {
  it("migrates every VPS off within the caps (a stopped one cold), shows progress, and says when it is done", async () => {
    const a = await node("a");
    await node("b");
    await node("c");
    for (let i = 0; i < 7; i++) await vps(a, `v${i}`);
    await vps(a, "off", { state: "stopped" });
    await vps(a, "broken", { state: "error" });
    expect((await h.call(op(), "POST", `/v1/nodes/${a}/drain`)).status).toBe(200);
    const p0 = await h.call(op(), "GET", `/v1/nodes/${a}/drain`);
    expect(p0.body).toMatchObject({
      maintenance: true,
      done: false,
      remaining: 9,
      migrating: 0,
      completed: 0,
    });
    expect(p0.body.next).toHaveLength(2);
    expect(p0.body.blocked).toEqual([
      expect.objectContaining({
        vpsName: "broken",
        reason: expect.stringMatching(/^in error: start, stop or delete it/),
      }),
    ]);

    let rounds = 0;
    while (rounds++ < 10) {
      const r = await runRound(deps);
      expect(r.drain.launched.length).toBeLessThanOrEqual(2);
      const p = await h.call(op(), "GET", `/v1/nodes/${a}/drain`);
      expect(p.body.migrating).toBe(r.drain.launched.length);
      if ((await commitAll()) === 0) break;
    }
    const p1 = await h.call(op(), "GET", `/v1/nodes/${a}/drain`);
    expect(p1.body).toMatchObject({ remaining: 1, completed: 8, migrating: 0, done: false });
    expect(await h.db.migration.count({ where: { trigger: "drain" } })).toBe(8);
    expect(await h.db.migration.count({ where: { trigger: "drain", kind: "cold" } })).toBe(1);
    // The errored one is the operator's to deal with; once it is gone the drain is done.
    await h.db.vps.updateMany({ where: { name: "broken" }, data: { state: "deleted", nodeId: null } });
    await runRound(deps);
    await runRound(deps);
    expect((await h.call(op(), "GET", `/v1/nodes/${a}/drain`)).body.done).toBe(true);
    expect(await h.db.event.count({ where: { resourceId: a, type: "node.drain_completed" } })).toBe(1);
  });
});

describe("node failure", () => {
  async function silence(nodeId: string, agoMs: number) {
    await h.db.node.update({
      where: { id: nodeId },
      data: { status: "unreachable", lastHeartbeatAt: new Date(Date.now() - agoMs) },
    });
    await h.db.vps.updateMany({ where: { nodeId }, data: { state: "unknown" } });
    for (const v of await h.db.vps.findMany({ where: { nodeId } })) {
      await h.db.event.create({
        data: {
          actorType: "system",
          resourceType: "vps",
          resourceId: v.id,
          type: "vps.state_changed",
          fromState: v.name.startsWith("stopped") ? "stopped" : "running",
          toState: "unknown",
        },
      });
    }
  }

  it("fences after the grace period, restarts diskless VPSes elsewhere exactly once, keeps local-disk ones down", async () => {
    const dead = await node("dead");
    const b = await node("b");
    const c = await node("c");
    for (let i = 0; i < 4; i++) await vps(dead, `fw${i}`);
    await vps(dead, "disk", { imageId: linuxImageId });
    await vps(dead, "stopped-fw");
    // Within the grace: nothing happens yet.
    await silence(dead, 20_000);
    expect((await runRecovery(deps)).fenced).toEqual([]);
    await h.db.node.update({ where: { id: dead }, data: { lastHeartbeatAt: new Date(Date.now() - 60_000) } });

    // Several rounds racing, as several API replicas could.
    const results = await Promise.all([runRecovery(deps), runRecovery(deps), runRecovery(deps)]);
    expect(results.flatMap((r) => r.fenced)).toEqual([dead]);
    expect(results.flatMap((r) => r.restarted)).toHaveLength(4);
    await runRecovery(deps);
    expect(enqueued).toHaveLength(4);
    expect(new Set(enqueued.map((j) => j.vpsId)).size).toBe(4);
    const node_ = await h.db.node.findUniqueOrThrow({ where: { id: dead } });
    expect(node_.status).toBe("fenced");
    for (let i = 0; i < 4; i++) {
      const v = await h.db.vps.findFirstOrThrow({ where: { name: `fw${i}` } });
      expect(v).toMatchObject({ state: "provisioning", epoch: 2, action: "create" });
      expect([b, c]).toContain(v.nodeId);
      const evs = await h.db.event.findMany({ where: { resourceId: v.id, type: "vps.recovered" } });
      expect(evs).toHaveLength(1);
      expect(evs[0]!.message).toMatch(/^node dead failed: cold-restarted on [bc] \(epoch 1 → 2\)$/);
    }
    const disk = await h.db.vps.findFirstOrThrow({ where: { name: "disk" } });
    expect(disk).toMatchObject({ state: "unknown", nodeId: dead, epoch: 1 });
    expect(disk.stateReason).toMatch(/disk is local to it: down until the node returns/);
    const stopped = await h.db.vps.findFirstOrThrow({ where: { name: "stopped-fw" } });
    expect(stopped).toMatchObject({ state: "unknown", nodeId: dead });
    expect(await h.db.event.count({ where: { type: "vps.down" } })).toBe(2);

    // The node returns still holding its old VMs: not readmitted while a stale one is there.
    const fws = await h.db.vps.findMany({ where: { name: { startsWith: "fw" } } });
    const report = (vms: { id: string }[]) =>
      h.call(AGENT_TOKEN, "POST", `/v1/nodes/${dead}/heartbeat`, {
        usage: { cpuPercent: 0, memoryUsedBytes: 0, vmCount: vms.length },
        vms: vms.map((v) => ({ vmId: v.id, epoch: 1, state: "running", memoryBytes: 64 * MiB })),
      });
    expect((await report([...fws, disk])).status).toBe(200);
    expect((await runRecovery(deps)).readmitted).toEqual([]);
    // Its stale copies destroyed (destroy-stale), it comes back; the local-disk VPS is its again.
    expect((await report([disk])).status).toBe(200);
    expect((await runRecovery(deps)).readmitted).toEqual([dead]);
    expect((await h.db.node.findUniqueOrThrow({ where: { id: dead } })).status).toBe("ready");
    expect((await report([disk])).status).toBe(200);
    expect(await h.db.vps.findFirstOrThrow({ where: { name: "disk" } })).toMatchObject({
      state: "running",
      nodeId: dead,
    });
    // The stopped one: the node came back without a VM for it.
    await runRecovery(deps);
    const lost = await h.db.vps.findFirstOrThrow({ where: { name: "stopped-fw" } });
    expect(lost).toMatchObject({ state: "error", nodeId: null });
    expect(enqueued).toHaveLength(4);
  });

  it("restarts a VPS whose disk is on shared storage from it, only where that storage is mounted", async () => {
    const dead = await node("dead", 4096, "storage-1");
    const small = await node("small", 100, "storage-1");
    // Room, but not where the disks are: never chosen for them.
    await node("local-roomy", 8192);
    await node("other-storage", 8192, "storage-2");
    const dto = (await h.call(op(), "GET", `/v1/nodes/${dead}`)).body;
    expect(dto.storage).toEqual({ backend: "shared", id: "storage-1" });
    await vps(dead, "big", { imageId: linuxImageId, memoryMiB: 512, diskStorageId: "storage-1" });
    await vps(dead, "disk", { imageId: linuxImageId, diskStorageId: "storage-1" });
    // Placed on the shared node before its disk was there (made locally): stays down.
    await vps(dead, "local-disk", { imageId: linuxImageId });
    await silence(dead, 60_000);
    const r = await runRecovery(deps);
    expect(r.restarted.map((x) => x.to)).toEqual(["small"]);
    const big = await h.db.vps.findFirstOrThrow({ where: { name: "big" } });
    expect(big).toMatchObject({ state: "unknown", nodeId: dead });
    expect(big.stateReason).toMatch(/^node dead failed; waiting for room elsewhere/);
    const disk = await h.db.vps.findFirstOrThrow({ where: { name: "disk" } });
    expect(disk).toMatchObject({
      state: "provisioning",
      nodeId: small,
      epoch: 2,
      diskStorageId: "storage-1",
    });
    const evs = await h.db.event.findMany({ where: { resourceId: disk.id, type: "vps.recovered" } });
    expect(evs).toHaveLength(1);
    expect(evs[0]!.message).toBe(
      "node dead failed: cold-restarted on small from its disk on shared storage (epoch 1 → 2)",
    );
    expect(evs[0]!.details).toMatchObject({ disk: "shared", storageId: "storage-1" });
    const local = await h.db.vps.findFirstOrThrow({ where: { name: "local-disk" } });
    expect(local).toMatchObject({ state: "unknown", nodeId: dead, epoch: 1 });
    expect(local.stateReason).toMatch(/disk is local to it: down until the node returns/);
    // Room appears where the disk is: it goes then.
    await node("roomy", 4096, "storage-1");
    expect((await runRecovery(deps)).restarted.map((x) => x.to)).toEqual(["roomy"]);
  });

  it("keeps a shared-disk VPS down when no other node mounts its storage", async () => {
    const dead = await node("dead", 4096, "storage-1");
    await node("elsewhere", 4096, "storage-2");
    await vps(dead, "alone", { imageId: linuxImageId, diskStorageId: "storage-1" });
    await silence(dead, 60_000);
    expect((await runRecovery(deps)).restarted).toEqual([]);
    const v = await h.db.vps.findFirstOrThrow({ where: { name: "alone" } });
    expect(v).toMatchObject({ state: "unknown", nodeId: dead, epoch: 1 });
    expect(v.stateReason).toMatch(/no other node mounts the shared storage its disk is on/);
  });

  it("records where a VPS's disk is when it is placed and when it migrates", async () => {
    const shared = await node("shared-a", 4096, "storage-1");
    const local = await node("local-b", 4096);
    const v = await vps(shared, "mover", { imageId: linuxImageId, diskStorageId: "storage-1" });
    for (const [to, want] of [
      [local, null],
      [shared, "storage-1"],
    ] as const) {
      const cur = await h.db.vps.findUniqueOrThrow({ where: { id: v.id } });
      const m = await h.db.migration.create({
        data: {
          vpsId: v.id,
          sourceNodeId: cur.nodeId!,
          targetNodeId: to,
          sourceEpoch: cur.epoch,
          targetEpoch: cur.epoch + 1,
          state: "committing",
        },
      });
      await h.db.vps.update({ where: { id: v.id }, data: { action: "migrate", actionId: m.id } });
      await finishMigration(h.db, m.id, { state: "completed", actor: { type: "system", id: null } });
      expect(await h.db.vps.findUniqueOrThrow({ where: { id: v.id } })).toMatchObject({
        nodeId: to,
        diskStorageId: want,
      });
    }
  });
});

describe("one balancer cluster-wide", () => {
  it("one schedule however many replicas upsert it, and rounds never overlap", async () => {
    const { startBalancerWorker } = await import("../../workers/balancer.js");
    const ctx = { db: h.db, agents: h.agents, policy: DEFAULT_POLICY, log };
    const w1 = await startBalancerWorker(ctx, h.queues, { deadAfterMs: 10_000, intervalMs: 60_000 });
    const w2 = await startBalancerWorker(ctx, h.queues, { deadAfterMs: 10_000, intervalMs: 60_000 });
    try {
      const { Queue } = await import("bullmq");
      const q = new Queue(QUEUE_NAMES.balancer, {
        connection: { url: h.services.redis.url },
        prefix: h.queues.options.prefix,
      });
      expect(await q.getJobSchedulers()).toHaveLength(1);
      await q.close();
    } finally {
      await w1.close();
      await w2.close();
    }
    const redis = new Redis(h.services.redis.url);
    const key = `lock-${randomUUID()}`;
    let inside = 0;
    let most = 0;
    const body = async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 50));
      inside--;
      return true;
    };
    const got = await Promise.all([1, 2, 3].map(() => withLock(redis, key, 5000, body)));
    expect(got.filter(Boolean)).toHaveLength(1);
    expect(most).toBe(1);
    expect(await withLock(redis, key, 5000, body)).toBe(true);
    redis.disconnect();
  });

  it("a tick runs recovery, drains and balancing together", async () => {
    await node("a");
    const r = await balancerTick(deps);
    expect(r.recovery).toEqual({ fenced: [], restarted: [], down: [], readmitted: [] });
    expect(r.round.drain.launched).toEqual([]);
  });
});
