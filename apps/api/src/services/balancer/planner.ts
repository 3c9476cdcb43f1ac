/**
 * The balancer's planner, pure: given the cluster and the settings, which VPSes to move where.
 *
 * Spread (performance) works like Ganeti's hbal: score the cluster, try every single move (each
 * movable VPS to each node that may take it), apply the one that lowers the score most, repeat
 * until the score is low enough or no move earns its cost. Pack (density) works in whole nodes:
 * the unit of progress is a node freed, so it picks the cheapest node whose VPSes all fit on
 * fuller nodes, moves them there, and repeats. Drains plan through the same model and caps.
 *
 * Guards against thrashing: a start threshold with hysteresis, a minimum improvement per move
 * after the move's migration cost, a per-VPS cooldown, one move per VPS per plan, caps on
 * migrations in flight per node and cluster-wide, strict placement-group rules never broken and
 * soft ones weighed, and no target that is unhealthy or in maintenance.
 */
import type { PlacementPolicy } from "../../domain/placement.js";
import type { BalancerSettings, ClusterModel } from "./model.js";
import { planPack } from "./pack.js";
import type { Plan, PlanOptions } from "./plan.js";
import { planSpread } from "./spread.js";
import { Workspace } from "./workspace.js";

// The planner's parts, one file per mode: importers keep one entry point.
export { type Evacuation, planEvacuation } from "./evacuate.js";
export type { Move, Plan, PlanOptions, PlanOutcome } from "./plan.js";
export { type ClusterScore, type NodeScore, scoreCluster } from "./score.js";

export function planRound(
  model: ClusterModel,
  settings: BalancerSettings,
  policy: PlacementPolicy,
  opts: PlanOptions,
): Plan {
  const ws = new Workspace(model, policy);
  return settings.mode === "pack" ? planPack(ws, settings, opts) : planSpread(ws, settings, opts);
}
