/**
 * Spread (performance), like Ganeti's hbal: score the cluster, try every single move (each movable
 * VPS to each node that may take it), apply the one that lowers the score most, repeat until the
 * score is low enough or no move earns its cost.
 */
import type { BalancerSettings } from "./model.js";
import {
  bump,
  Caps,
  candidatesOn,
  describe,
  EXHAUSTIVE_UP_TO,
  finish,
  groupNodes,
  guard,
  limits,
  type Move,
  moveOf,
  type Plan,
  type PlanOptions,
  type PlanOutcome,
  PRUNED_TARGETS,
  tieBreak,
} from "./plan.js";
import type { Workspace } from "./workspace.js";

export function planSpread(ws: Workspace, settings: BalancerSettings, opts: PlanOptions): Plan {
  const { maxMoves, floor } = limits(settings, opts);
  const caps = new Caps(ws, settings, opts.respectCaps);
  const inFlight = new Set(ws.model.inFlight.map((m) => m.vpsId));
  const moved = new Set<string>();
  const skipped: Record<string, number> = {};
  const moves: Move[] = [];
  const scoreBefore = ws.spreadScore();
  const penaltyBefore = ws.penalty();
  let score = scoreBefore;
  let outcome: PlanOutcome;
  const active = ws.nodes.filter((n) => n.active).map((n) => n.index);
  const exhaustive = active.length <= (opts.exhaustiveUpTo ?? EXHAUSTIVE_UP_TO);

  if (!opts.balancing && score <= settings.threshold) {
    outcome = "balanced";
  } else {
    for (;;) {
      if (score <= floor) {
        outcome = "balanced";
        break;
      }
      if (moves.length >= maxMoves || caps.exhausted()) {
        outcome = moves.length > 0 ? "in-progress" : "capped";
        break;
      }
      // Large clusters: the busiest nodes give, the idlest take (hbal tries every pair; here the
      // pairs that can matter, which keeps a step independent of the cluster's size).
      const k = opts.targets ?? PRUNED_TARGETS;
      const byLoad = exhaustive ? active : [...active].sort((a, b) => ws.combined(a) - ws.combined(b));
      const targets = exhaustive ? active : byLoad.slice(0, k);
      const sources = exhaustive ? active : byLoad.slice(-k);
      let best: { vpsId: string; target: number; after: number; rank: number; gain: number } | undefined;
      let cappedOut = false;
      // Only VPSes of nodes above the mean can gain by moving (unless a group rule is at stake).
      const above = ws.nodes.map((n) => n.active && ws.aboveMean(n.index));
      // Unreachable nodes cannot migrate; those in maintenance are the drain's.
      for (const v of candidatesOn(ws, sources)) {
        const id = v.vps.id;
        const why = guard(ws, id, settings, opts.now, moved, inFlight, false);
        if (why) {
          if (moves.length === 0) bump(skipped, why);
          continue;
        }
        if (!above[v.node] && !v.group) continue;
        const extra = v.group ? groupNodes(ws, v.group.id, active) : [];
        for (const t of extra.length ? [...targets, ...extra] : targets) {
          if (t === v.node) continue;
          const extraCost = ws.penaltyDelta(v, t) + ws.moveCost(v, t);
          // The guard is local (N-independent); the choice is global, as in hbal: the move that
          // lowers the cluster score most, its penalty and cost counted at one node in N.
          const gain = ws.localGain(v, t) - extraCost;
          if (gain < settings.minImprovement || ws.refusal(v, t)) continue;
          const after = ws.spreadScoreAfter(v, t);
          const rank = score - after - extraCost / ws.activeCount;
          if (rank <= 0) continue;
          if (!caps.allows(v.node, t)) {
            cappedOut = true;
            continue;
          }
          if (
            !best ||
            rank > best.rank + 1e-12 ||
            (Math.abs(rank - best.rank) <= 1e-12 && tieBreak(ws, id, t, best))
          ) {
            best = { vpsId: id, target: t, after, rank, gain };
          }
        }
      }
      if (!best) {
        outcome = cappedOut ? (moves.length > 0 ? "in-progress" : "capped") : "no-improving-move";
        break;
      }
      const v = ws.vps(best.vpsId)!;
      const from = v.node;
      const penaltyDelta = ws.penaltyDelta(best.vpsId, best.target);
      moves.push(
        moveOf(
          ws,
          best.vpsId,
          from,
          best.target,
          score,
          best.after,
          best.gain,
          spreadReason(ws, from, best.target, penaltyDelta),
        ),
      );
      ws.move(best.vpsId, best.target);
      caps.add(from, best.target);
      moved.add(best.vpsId);
      score = ws.spreadScore();
    }
  }
  return finish(ws, settings, floor, scoreBefore, score, penaltyBefore, moves, outcome, skipped);
}

function spreadReason(ws: Workspace, from: number, to: number, penaltyDelta: number): string {
  const f = ws.nodes[from]!.load.name;
  const t = ws.nodes[to]!.load.name;
  const rules = penaltyDelta < 0 ? "; repairs a placement-group rule" : "";
  return `spread: ${f} (${describe(ws.utilization(from))}) is busier than ${t} (${describe(ws.utilization(to))})${rules}`;
}
