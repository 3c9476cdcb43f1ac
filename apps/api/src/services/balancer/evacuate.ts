/** Drains: every VPS off nodes in maintenance, through the same model and caps as balancing. */
import type { PlacementPolicy } from "../../domain/placement.js";
import type { BalancerSettings, ClusterModel } from "./model.js";
import { Caps, guard, type Move, moveOf } from "./plan.js";
import { Workspace } from "./workspace.js";

export interface Evacuation {
  readonly moves: readonly Move[];
  /** VPSes that will move once the caps allow (migrations in flight) or their action ends. */
  readonly waiting: readonly { vpsId: string; vpsName: string; nodeId: string; reason: string }[];
  /** VPSes that cannot move until someone acts (the reason says what to do), or that no node can take. */
  readonly blocked: readonly { vpsId: string; vpsName: string; nodeId: string; reason: string }[];
  /** VPSes already on their way out. */
  readonly migrating: number;
}

/**
 * Drain: every VPS on a node in maintenance goes to the node where it evens the cluster out most
 * (same filters, group rules and caps as the balancer; no cooldown: the node must be emptied).
 * Largest first, so the big ones find room before the small ones fragment it.
 */
export function planEvacuation(
  model: ClusterModel,
  settings: BalancerSettings,
  policy: PlacementPolicy,
  opts: { now: number; respectCaps: boolean },
): Evacuation {
  const ws = new Workspace(model, policy);
  const caps = new Caps(ws, settings, opts.respectCaps);
  const inFlight = new Set(model.inFlight.map((m) => m.vpsId));
  const active = ws.nodes.filter((n) => n.active).map((n) => n.index);
  const draining = ws.nodes.filter((n) => n.load.maintenance && n.load.status === "ready");
  const moves: Move[] = [];
  const waiting: Evacuation["waiting"][number][] = [];
  const blocked: Evacuation["blocked"][number][] = [];
  const drainingIds = new Set(draining.map((n) => n.load.id));
  const migrating = model.inFlight.filter((m) => drainingIds.has(m.sourceNodeId)).length;
  const movedOut = new Set<string>();
  for (const n of draining) {
    const ids = [...n.vpsIds].sort(
      (a, b) => ws.vps(b)!.vps.memoryBytes - ws.vps(a)!.vps.memoryBytes || (a < b ? -1 : 1),
    );
    for (const id of ids) {
      const v = ws.vps(id)!;
      const entry = { vpsId: id, vpsName: v.vps.name, nodeId: n.load.id };
      const why = guard(ws, id, settings, opts.now, movedOut, inFlight, true);
      if (why === "not running" && !v.vps.coldMovable) {
        const stuck = unmovable(v.vps);
        (stuck.passing ? waiting : blocked).push({ ...entry, reason: stuck.reason });
        continue;
      }
      if (why && why !== "not running") {
        blocked.push({ ...entry, reason: why });
        continue;
      }
      let best: { target: number; score: number } | undefined;
      const refusals: string[] = [];
      let cappedOut = false;
      for (const t of active) {
        const r = ws.refusal(id, t);
        if (r) {
          if (refusals.length < 3) refusals.push(`${ws.nodes[t]!.load.name}: ${r}`);
          continue;
        }
        if (!caps.allows(n.index, t)) {
          cappedOut = true;
          continue;
        }
        const s = ws.spreadScoreAfter(id, t) + ws.penaltyDelta(id, t);
        if (!best || s < best.score - 1e-12) best = { target: t, score: s };
      }
      if (!best) {
        if (cappedOut) waiting.push({ ...entry, reason: "waiting for a migration slot" });
        else
          blocked.push({
            ...entry,
            reason: `no node can take it${refusals.length ? ` (${refusals.join("; ")})` : ""}`,
          });
        continue;
      }
      const before = ws.spreadScore();
      ws.move(id, best.target);
      caps.add(n.index, best.target);
      movedOut.add(id);
      moves.push(
        moveOf(
          ws,
          id,
          n.index,
          best.target,
          before,
          ws.spreadScore(),
          0,
          `drain: ${n.load.name} is in maintenance`,
        ),
      );
    }
  }
  return { moves, waiting, blocked, migrating };
}

/**
 * Why a drain cannot move a VPS that is neither live- nor cold-movable, and whether that passes by
 * itself (an action in flight) or needs someone (the reason says what to do).
 */
function unmovable(v: { state?: string; action?: string | null }): { passing: boolean; reason: string } {
  if (v.action) return { passing: true, reason: `busy with ${v.action}: it moves once that ends` };
  switch (v.state) {
    case "error":
      return { passing: false, reason: "in error: start, stop or delete it, then the drain moves it" };
    case "unknown":
      return {
        passing: false,
        reason: "unknown: its node does not report it; wait for the node's report, or delete the VPS",
      };
    default:
      return { passing: true, reason: `${v.state ?? "not settled"}: it moves once it is running or stopped` };
  }
}
