/**
 * Pack (density) works in whole nodes: the unit of progress is a node freed, so it picks the
 * cheapest node whose VPSes all fit on fuller nodes, moves them there, and repeats.
 */
import type { BalancerSettings } from "./model.js";
import {
  bump,
  Caps,
  describe,
  EXHAUSTIVE_UP_TO,
  finish,
  guard,
  limits,
  type Move,
  moveOf,
  type Plan,
  type PlanOptions,
  type PlanOutcome,
  PRUNED_TARGETS,
} from "./plan.js";
import type { Workspace } from "./workspace.js";

export function planPack(ws: Workspace, settings: BalancerSettings, opts: PlanOptions): Plan {
  const { maxMoves, floor } = limits(settings, opts);
  const caps = new Caps(ws, settings, opts.respectCaps);
  const inFlight = new Set(ws.model.inFlight.map((m) => m.vpsId));
  const moved = new Set<string>();
  const skipped: Record<string, number> = {};
  const moves: Move[] = [];
  const max = settings.packMaxUtilization;
  const scoreBefore = ws.packScore(max);
  const penaltyBefore = ws.penalty();
  let score = scoreBefore;
  let outcome: PlanOutcome;
  const freed = new Set<number>();
  const active = ws.nodes.filter((n) => n.active).map((n) => n.index);
  const limitTargets = active.length > (opts.exhaustiveUpTo ?? EXHAUSTIVE_UP_TO);

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
      // Candidates to free: the emptiest nodes first; among equals, the cheapest to move.
      const sources = active
        .filter((i) => !freed.has(i) && ws.nodes[i]!.vpsIds.size > 0)
        .sort((a, b) => ws.combined(a) - ws.combined(b) || evacuationCost(ws, a) - evacuationCost(ws, b));
      let done: { source: number; plan: { vpsId: string; target: number }[]; was: string } | undefined;
      for (const s of sources) {
        const was = describe(ws.utilization(s));
        const plan = tryEvacuate(
          ws,
          s,
          active,
          freed,
          settings,
          opts,
          moved,
          inFlight,
          skipped,
          limitTargets,
        );
        if (plan) {
          done = { source: s, plan, was };
          break;
        }
      }
      if (!done) {
        outcome = "no-improving-move";
        break;
      }
      // The evacuation is applied in the workspace; record it, cut where caps or the budget stop it.
      // What it earns: a whole node (1), less what its migrations cost, shared by its moves.
      const cost = done.plan.reduce((a, p) => a + ws.moveCost(p.vpsId, p.target), 0);
      const gain = (1 - cost) / done.plan.length;
      if (gain < settings.minImprovement) {
        undo(ws, done.plan, done.source);
        outcome = "no-improving-move";
        break;
      }
      let cut = done.plan.length;
      for (let k = 0; k < done.plan.length; k++) {
        const p = done.plan[k]!;
        if (moves.length >= maxMoves || !caps.allows(done.source, p.target)) {
          cut = k;
          break;
        }
        caps.add(done.source, p.target);
        // The score (nodes in use) only drops with the move that empties the node.
        moves.push(
          moveOf(
            ws,
            p.vpsId,
            done.source,
            p.target,
            score,
            score,
            gain,
            packReason(ws, done.source, done.was, p.target),
          ),
        );
        moved.add(p.vpsId);
      }
      if (cut < done.plan.length) {
        undo(ws, done.plan.slice(cut), done.source);
        outcome = moves.length > 0 ? "in-progress" : "capped";
        break;
      }
      freed.add(done.source);
      score = ws.packScore(max);
      const last = moves[moves.length - 1]!;
      moves[moves.length - 1] = { ...last, scoreAfter: score };
    }
  }
  return finish(ws, settings, floor, scoreBefore, score, penaltyBefore, moves, outcome, skipped);
}

function packReason(ws: Workspace, source: number, was: string, target: number): string {
  const s = ws.nodes[source]!.load.name;
  const t = ws.nodes[target]!.load.name;
  return `pack: free ${s} (${was}); ${t} has room (${describe(ws.utilization(target))} with its new VPSes)`;
}

function evacuationCost(ws: Workspace, node: number): number {
  let s = 0;
  for (const id of ws.nodes[node]!.vpsIds) s += ws.migrationSeconds(id);
  return s;
}

/** Moves the VPSes back (the workspace then equals what it was before the evacuation). */
function undo(ws: Workspace, plan: readonly { vpsId: string; target: number }[], source: number): void {
  for (const p of [...plan].reverse()) ws.move(p.vpsId, source);
}

/**
 * Places every VPS of `source` on the fullest other nodes that stay under the pack limit
 * (largest VPS first, best fit). Applies the moves in the workspace and returns them, or undoes
 * them and returns null when one VPS cannot move or fit.
 */
function tryEvacuate(
  ws: Workspace,
  source: number,
  active: readonly number[],
  freed: ReadonlySet<number>,
  settings: BalancerSettings,
  opts: PlanOptions,
  moved: ReadonlySet<string>,
  inFlight: ReadonlySet<string>,
  skipped: Record<string, number>,
  limitTargets: boolean,
): { vpsId: string; target: number }[] | null {
  const ids = [...ws.nodes[source]!.vpsIds];
  for (const id of ids) {
    const why = guard(ws, id, settings, opts.now, moved, inFlight, false);
    if (why) {
      bump(skipped, why);
      return null;
    }
  }
  ids.sort((a, b) => ws.vps(b)!.vps.memoryBytes - ws.vps(a)!.vps.memoryBytes || (a < b ? -1 : 1));
  // Targets: nodes in use (an empty one stays empty) with room under the limit for at least the
  // least demanding VPS, in memory and in CPU (else full nodes crowd out the pruned list).
  const least = { memory: Number.POSITIVE_INFINITY, cpu: Number.POSITIVE_INFINITY };
  for (const id of ids) {
    const v = ws.vps(id)!.vps;
    least.memory = Math.min(least.memory, v.memoryBytes);
    least.cpu = Math.min(least.cpu, v.cpuUsed);
  }
  const max = settings.packMaxUtilization;
  let targets = active.filter((i) => {
    const n = ws.nodes[i]!;
    if (i === source || freed.has(i) || n.vpsIds.size === 0) return false;
    return (
      n.reserved.memoryBytes + least.memory <= max * n.load.memoryBytes &&
      n.cpuUsed + least.cpu <= max * n.load.cpus
    );
  });
  targets.sort((a, b) => ws.combined(b) - ws.combined(a));
  if (limitTargets) targets = targets.slice(0, opts.targets ?? PRUNED_TARGETS);
  const plan: { vpsId: string; target: number }[] = [];
  for (const id of ids) {
    let best: number | undefined;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const t of targets) {
      if (ws.refusal(id, t) || !ws.fitsUnder(id, t, settings.packMaxUtilization)) continue;
      // Best fit: the fullest node that takes it; soft group rules count against.
      const s = ws.combined(t) - ws.penaltyDelta(id, t);
      if (s > bestScore) {
        best = t;
        bestScore = s;
      }
    }
    if (best === undefined) {
      undo(ws, plan, source);
      bump(skipped, "does not fit elsewhere");
      return null;
    }
    ws.move(id, best);
    plan.push({ vpsId: id, target: best });
  }
  return plan;
}
