/**
 * Operator control of the balancer: settings, the current score per node, a dry run, and drain
 * progress. Also records what agents report about their VMs (measured CPU and dirty rates) as
 * registrations and heartbeats are answered, for the balancer's load model.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { requireOperator } from "../http/auth.js";
import { apiError } from "../http/errors.js";
import { ERROR_RESPONSES, IdParams } from "../http/schemas.js";
import { loadCluster } from "../services/balancer/cluster.js";
import { recordBalancerEvent } from "../services/balancer/events.js";
import { type Plan, planEvacuation, planRound, scoreCluster } from "../services/balancer/planner.js";
import {
  loadSettings,
  SettingsPatch,
  saveSettings,
  settingsView,
  withPatch,
} from "../services/balancer/settings.js";
import { type IncomingVm, VmStatsStore } from "../services/balancer/vm-stats.js";
import { actorOf } from "../services/events.js";

const Settings = z
  .object({
    enabled: z.boolean(),
    mode: z.enum(["spread", "pack"]),
    threshold: z.number(),
    minImprovement: z.number(),
    hysteresis: z.number(),
    cooldownSeconds: z.number().int(),
    maxMovesPerRound: z.number().int(),
    maxConcurrent: z.number().int(),
    maxConcurrentPerNode: z.number().int(),
    packMaxUtilization: z.number(),
  })
  .meta({ id: "BalancerSettings" });

const NodeScoreSchema = z.object({
  nodeId: z.string(),
  name: z.string(),
  status: z.string(),
  maintenance: z.boolean(),
  active: z.boolean().describe("ready and not in maintenance: counted in the score"),
  vpsCount: z.number().int(),
  cpu: z.number().describe("measured CPU use of its VMs over its cores (0-1)"),
  memory: z.number().describe("memory committed to its VMs over its memory (0-1)"),
  dirtyPagesPerSec: z.number(),
  deviation: z.number().describe("weighted distance from the cluster mean (+ busier, − idler)"),
});

const BalancerView = z
  .object({
    settings: Settings,
    state: z.object({
      balancing: z.boolean().describe("hysteresis: the last round left work above the floor"),
      lastRunAt: z.string().nullable(),
      lastScore: z.number().nullable(),
    }),
    score: z.object({
      mode: z.enum(["spread", "pack"]),
      current: z.number().describe("the score the mode balances (0 = even / packed)"),
      spread: z.number(),
      pack: z.number(),
      penalty: z.number().describe("placement-group violations, weighted"),
      threshold: z.number(),
      floor: z.number(),
    }),
    nodes: z.array(NodeScoreSchema),
  })
  .meta({ id: "Balancer" });

const MoveSchema = z.object({
  vpsId: z.string(),
  vpsName: z.string(),
  fromNodeId: z.string(),
  fromNode: z.string(),
  toNodeId: z.string(),
  toNode: z.string(),
  scoreBefore: z.number(),
  scoreAfter: z.number(),
  gain: z.number(),
  estimatedSeconds: z.number(),
  reason: z.string(),
});

const PlanSchema = z.object({
  mode: z.enum(["spread", "pack"]),
  threshold: z.number(),
  floor: z.number(),
  scoreBefore: z.number(),
  scoreAfter: z.number(),
  penaltyBefore: z.number(),
  penaltyAfter: z.number(),
  moves: z.array(MoveSchema),
  outcome: z.enum(["balanced", "in-progress", "no-improving-move", "capped"]),
  balancing: z.boolean(),
  skipped: z.record(z.string(), z.number()),
});

const Stuck = z.object({ vpsId: z.string(), vpsName: z.string(), nodeId: z.string(), reason: z.string() });

const DryRunBody = SettingsPatch.extend({
  force: z.boolean().optional().describe("plan even when the score is under the threshold"),
})
  .strict()
  .nullish();

const DryRunResponse = z
  .object({
    settings: Settings,
    plan: PlanSchema.describe("the whole way to the floor, ignoring the in-flight caps"),
    nextRound: PlanSchema.describe("what the next round would start, within the caps"),
    drain: z.object({ moves: z.array(MoveSchema), waiting: z.array(Stuck), blocked: z.array(Stuck) }),
  })
  .meta({ id: "BalancerPlan" });

const DrainProgress = z
  .object({
    nodeId: z.string(),
    name: z.string(),
    maintenance: z.boolean(),
    done: z.boolean().describe("in maintenance and no VPS left"),
    remaining: z.number().int().describe("VPSes still on the node"),
    migrating: z.number().int().describe("drain migrations in flight"),
    completed: z.number().int().describe("drain migrations off this node that completed"),
    failed: z.number().int().describe("drain migrations that rolled back or failed (they are retried)"),
    next: z.array(MoveSchema).describe("what the next round would start"),
    waiting: z.array(Stuck),
    blocked: z.array(Stuck).describe("VPSes that cannot move now, and why"),
  })
  .meta({ id: "DrainProgress" });

const planView = (p: Plan) => ({ ...p, moves: [...p.moves], skipped: { ...p.skipped } });

/** Routes whose answers carry what a node runs. */
const REPORTS = new Set(["/v1/nodes/register", "/v1/nodes/:id/heartbeat"]);

async function recordReport(app: FastifyInstance, stats: VmStatsStore, req: FastifyRequest): Promise<void> {
  const body = req.body as { name?: string; vms?: IncomingVm[] } | undefined;
  if (!body?.vms) return;
  let nodeId = (req.params as { id?: string }).id;
  if (!nodeId && body.name) {
    nodeId = (await app.deps.db.node.findUnique({ where: { name: body.name }, select: { id: true } }))?.id;
  }
  if (nodeId) await stats.record(nodeId, body.vms);
}

const balancerPlugin: FastifyPluginAsyncZod = async (app) => {
  const { db, policy } = app.deps;
  const stats = new VmStatsStore(app.deps.redis);
  const tags = ["balancer"];
  const operator = { operatorOnly: true };

  // Before the answer, not after it: once an agent has its answer, recovery and the balancer
  // must see what it reported (a fenced node is readmitted on the report that shows no stale VM).
  app.addHook("onSend", async (req, reply, payload) => {
    if (reply.statusCode !== 200 || !REPORTS.has(req.routeOptions.url ?? "")) return payload;
    await recordReport(app, stats, req).catch((err: unknown) =>
      req.log.warn({ err }, "could not record the node's VM report"),
    );
    return payload;
  });

  const view = async () => {
    const stored = await loadSettings(db);
    const s = stored.settings;
    const model = await loadCluster(db, stats, { now: Date.now(), cooldownMs: s.cooldownMs });
    const score = scoreCluster(model, s, policy);
    const byId = new Map(model.nodes.map((n) => [n.id, n]));
    return {
      settings: settingsView(s),
      state: {
        balancing: stored.balancing,
        lastRunAt: stored.lastRunAt?.toISOString() ?? null,
        lastScore: stored.lastScore,
      },
      score: {
        mode: s.mode,
        current: s.mode === "pack" ? score.pack : score.spread,
        spread: score.spread,
        pack: score.pack,
        penalty: score.penalty,
        threshold: s.threshold,
        floor: s.threshold * (1 - s.hysteresis),
      },
      nodes: score.nodes.map((n) => ({
        ...n,
        status: byId.get(n.nodeId)!.status,
        maintenance: byId.get(n.nodeId)!.maintenance,
      })),
    };
  };

  app.get(
    "/v1/balancer",
    {
      config: operator,
      schema: {
        tags,
        summary: "Balancer settings, state and the current score per node (operators)",
        response: { 200: BalancerView, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      requireOperator(req);
      return view();
    },
  );

  app.put(
    "/v1/balancer",
    {
      config: { ...operator, idempotent: true },
      schema: {
        tags,
        summary: "Change the balancer's settings: enable/disable, mode, thresholds, caps (operators)",
        body: SettingsPatch,
        response: { 200: BalancerView, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = requireOperator(req);
      const before = settingsView((await loadSettings(db)).settings);
      const after = settingsView((await saveSettings(db, req.body)).settings);
      const changed = Object.fromEntries(
        Object.entries(after)
          .filter(([k, v]) => before[k as keyof typeof before] !== v)
          .map(([k, v]) => [k, { from: before[k as keyof typeof before], to: v }]),
      );
      if (Object.keys(changed).length > 0) {
        await recordBalancerEvent(db, {
          actor: actorOf(p),
          type: "balancer.settings_changed",
          message: Object.entries(changed)
            .map(([k, c]) => `${k}: ${c.from} → ${c.to}`)
            .join(", "),
          details: { changed },
        });
      }
      return view();
    },
  );

  app.post(
    "/v1/balancer/plan",
    {
      config: operator,
      schema: {
        tags,
        summary: "Dry run: the moves the balancer would make, with the score before and after (operators)",
        description:
          "Nothing moves. The body may override settings for this plan only (e.g. mode: pack). `plan` goes all the way to the floor ignoring the in-flight caps; `nextRound` is what the next round would start.",
        body: DryRunBody,
        response: { 200: DryRunResponse, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      requireOperator(req);
      const { force, ...overrides } = req.body ?? {};
      const stored = await loadSettings(db);
      const s = withPatch(stored.settings, overrides);
      const now = Date.now();
      const model = await loadCluster(db, stats, { now, cooldownMs: s.cooldownMs });
      const balancing = force === true || stored.balancing;
      const evacuation = planEvacuation(model, s, policy, { now, respectCaps: false });
      return {
        settings: settingsView(s),
        plan: planView(planRound(model, s, policy, { balancing, now, respectCaps: false })),
        nextRound: planView(planRound(model, s, policy, { balancing, now, respectCaps: true })),
        drain: {
          moves: [...evacuation.moves],
          waiting: [...evacuation.waiting],
          blocked: [...evacuation.blocked],
        },
      };
    },
  );

  app.get(
    "/v1/nodes/:id/drain",
    {
      config: operator,
      schema: {
        tags: ["nodes"],
        summary: "Drain progress of a node (operators)",
        description:
          "POST /v1/nodes/:id/drain puts the node in maintenance; the balancer round then migrates its VPSes off, within the migration caps, whether or not balancing is enabled.",
        params: IdParams,
        response: { 200: DrainProgress, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      requireOperator(req);
      const node = await db.node.findUnique({ where: { id: req.params.id } });
      if (!node) throw apiError("NODE_NOT_FOUND", `no node ${req.params.id}`);
      const s = (await loadSettings(db)).settings;
      const now = Date.now();
      const model = await loadCluster(db, stats, { now, cooldownMs: s.cooldownMs });
      const e = planEvacuation(model, s, policy, { now, respectCaps: true });
      const since = await db.event.findFirst({
        where: { resourceType: "node", resourceId: node.id, type: "node.drained" },
        orderBy: { id: "desc" },
        select: { at: true },
      });
      const drains = await db.migration.groupBy({
        by: ["state"],
        where: { sourceNodeId: node.id, trigger: "drain", createdAt: { gte: since?.at ?? new Date(0) } },
        _count: true,
      });
      const count = (states: string[]) =>
        drains.filter((d) => states.includes(d.state)).reduce((a, d) => a + d._count, 0);
      const remaining = model.vpses.filter((v) => v.nodeId === node.id).length;
      const mine = <T extends { nodeId?: string; fromNodeId?: string }>(xs: readonly T[]) =>
        xs.filter((x) => (x.nodeId ?? x.fromNodeId) === node.id);
      return {
        nodeId: node.id,
        name: node.name,
        maintenance: node.maintenance,
        done: node.maintenance && remaining === 0,
        remaining,
        migrating: model.inFlight.filter((m) => m.sourceNodeId === node.id).length,
        completed: count(["completed"]),
        failed: count(["rolled_back", "failed"]),
        next: mine(e.moves),
        waiting: mine(e.waiting),
        blocked: mine(e.blocked),
      };
    },
  );
};

// Registered at the root (not encapsulated) so the report hook sees the agents' routes.
Object.assign(balancerPlugin, { [Symbol.for("skip-override")]: true });

export const balancerRoutes = balancerPlugin;
