/**
 * One balancer round: drain nodes in maintenance, then (when enabled) even out or pack the
 * cluster. Plans with the pure planner, executes each move by starting the same live migration as
 * POST /v1/vps/:id/migrate, and records the decision with its reasons as events.
 */
import { errorMessage, isSkiffError, type Logger } from "@skiff/common";
import type { Db } from "../../db/client.js";
import type { PlacementPolicy } from "../../domain/placement.js";
import { recordEvent, SYSTEM } from "../events.js";
import { loadCluster } from "./cluster.js";
import { recordBalancerEvent } from "./events.js";
import type { ClusterModel } from "./model.js";
import { type Evacuation, type Move, type Plan, planEvacuation, planRound } from "./planner.js";
import { loadSettings, saveRoundState } from "./settings.js";
import type { VmStatsStore } from "./vm-stats.js";

export type MigrationTrigger = "balancer" | "drain";

/** Starts a live migration (the API's migration service; an interface so tests can see the calls). */
export interface MigrationLauncher {
  launch(req: {
    readonly vpsId: string;
    readonly targetNodeId: string;
    readonly trigger: MigrationTrigger;
    readonly reason: string;
  }): Promise<{ readonly migrationId: string }>;
}

export interface BalancerDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly policy: PlacementPolicy;
  readonly stats: VmStatsStore;
  readonly migrations: MigrationLauncher;
}

export interface Launched {
  readonly move: Move;
  readonly migrationId?: string;
  /** Why the migration service refused it (the VPS changed meanwhile, the target filled up...). */
  readonly refused?: string;
}

export interface RoundResult {
  readonly drain: { readonly launched: readonly Launched[]; readonly evacuation: Evacuation };
  /** Absent when the balancer is disabled. */
  readonly balance?: { readonly plan: Plan; readonly launched: readonly Launched[] };
}

async function launchAll(
  deps: BalancerDeps,
  moves: readonly Move[],
  trigger: MigrationTrigger,
  extra: (m: Move) => string,
): Promise<Launched[]> {
  const out: Launched[] = [];
  for (const move of moves) {
    try {
      const { migrationId } = await deps.migrations.launch({
        vpsId: move.vpsId,
        targetNodeId: move.toNodeId,
        trigger,
        reason: `${move.reason}${extra(move)}`,
      });
      out.push({ move, migrationId });
    } catch (err) {
      // The plan is a snapshot: the VPS may have started another action, or the target filled up.
      const refused = isSkiffError(err) ? `${err.code}: ${err.message}` : errorMessage(err);
      deps.log.warn({ vps: move.vpsName, to: move.toNode, trigger, refused }, "migration not started");
      out.push({ move, refused });
    }
  }
  return out;
}

/** The model as it will be once the given migrations are under way (so the caps count them). */
function withInFlight(model: ClusterModel, launched: readonly Launched[]): ClusterModel {
  const started = launched.filter((l) => l.migrationId);
  if (started.length === 0) return model;
  return {
    ...model,
    inFlight: [
      ...model.inFlight,
      ...started.map((l) => ({
        vpsId: l.move.vpsId,
        sourceNodeId: l.move.fromNodeId,
        targetNodeId: l.move.toNodeId,
      })),
    ],
  };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export async function runRound(deps: BalancerDeps, now = Date.now()): Promise<RoundResult> {
  const { db, policy } = deps;
  const stored = await loadSettings(db);
  const s = stored.settings;
  let model = await loadCluster(db, deps.stats, { now, cooldownMs: s.cooldownMs });

  // Drains first: an operator asked for them, and they share the same migration slots.
  const evacuation = planEvacuation(model, s, policy, { now, respectCaps: true });
  const drained = await launchAll(deps, evacuation.moves, "drain", () => "");
  model = withInFlight(model, drained);
  await recordDrainsCompleted(deps, model);

  if (!s.enabled) return { drain: { launched: drained, evacuation } };

  const plan = planRound(model, s, policy, { balancing: stored.balancing, now, respectCaps: true });
  const launched = await launchAll(
    deps,
    plan.moves,
    "balancer",
    (m) => `; score ${round3(m.scoreBefore)} → ${round3(m.scoreAfter)} (${s.mode})`,
  );
  const started = launched.filter((l) => l.migrationId).length;
  // Events only when something happens or the state changes: a quiet cluster stays quiet.
  if (plan.moves.length > 0 || stored.balancing !== plan.balancing) {
    await recordBalancerEvent(db, {
      actor: SYSTEM,
      type: plan.moves.length > 0 ? "balancer.moves_started" : "balancer.settled",
      message: roundMessage(plan, started),
      details: {
        mode: plan.mode,
        outcome: plan.outcome,
        scoreBefore: plan.scoreBefore,
        scoreAfter: plan.scoreAfter,
        threshold: plan.threshold,
        floor: plan.floor,
        penaltyBefore: plan.penaltyBefore,
        penaltyAfter: plan.penaltyAfter,
        skipped: plan.skipped,
        moves: launched.map((l) => ({
          vps: l.move.vpsName,
          vpsId: l.move.vpsId,
          from: l.move.fromNode,
          to: l.move.toNode,
          gain: l.move.gain,
          estimatedSeconds: l.move.estimatedSeconds,
          reason: l.move.reason,
          migrationId: l.migrationId ?? null,
          refused: l.refused ?? null,
        })),
      },
    });
  }
  // A refused move leaves the work undone: keep balancing next round.
  const balancing = plan.balancing || launched.some((l) => l.refused);
  await saveRoundState(db, { balancing, score: plan.scoreBefore, at: new Date(now) });
  if (plan.moves.length > 0) {
    deps.log.info(
      { mode: plan.mode, score: round3(plan.scoreBefore), planned: round3(plan.scoreAfter), moves: started },
      "balancer started migrations",
    );
  }
  return { drain: { launched: drained, evacuation }, balance: { plan, launched } };
}

function roundMessage(plan: Plan, started: number): string {
  const score = `${plan.mode} score ${round3(plan.scoreBefore)}`;
  switch (plan.outcome) {
    case "balanced":
      return plan.moves.length
        ? `${score} above the threshold ${plan.threshold}: ${started} migration(s) bring it to ${round3(plan.scoreAfter)}, under the floor ${round3(plan.floor)}`
        : `${score}: balanced (floor ${round3(plan.floor)}, threshold ${plan.threshold})`;
    case "in-progress":
    case "capped":
      return `${score}: ${started} migration(s) towards ${round3(plan.scoreAfter)}; more next round (caps: ${plan.moves.length} this round)`;
    case "no-improving-move":
      return plan.moves.length
        ? `${score}: ${started} migration(s) to ${round3(plan.scoreAfter)}; no further move earns its cost`
        : `${score}: no move earns its cost (minimum improvement) or the rules allow none; waiting`;
  }
}

/** A node in maintenance with no VPS left: say once that its drain is done. */
async function recordDrainsCompleted(deps: BalancerDeps, model: ClusterModel): Promise<void> {
  const occupied = new Set(model.vpses.map((v) => v.nodeId));
  for (const n of model.nodes) {
    if (!n.maintenance || occupied.has(n.id)) continue;
    const last = await deps.db.event.findFirst({
      where: {
        resourceType: "node",
        resourceId: n.id,
        type: { in: ["node.drained", "node.drain_completed", "node.undrained"] },
      },
      orderBy: { id: "desc" },
      select: { type: true },
    });
    if (last?.type !== "node.drained") continue;
    await recordEvent(deps.db, {
      actor: SYSTEM,
      resourceType: "node",
      resourceId: n.id,
      type: "node.drain_completed",
      message: `${n.name} holds no VPS: ready for maintenance`,
    });
  }
}
