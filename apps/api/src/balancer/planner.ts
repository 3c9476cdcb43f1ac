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
import type { PlacementPolicy } from "../domain/placement.js";
import { type BalancerSettings, type ClusterModel, SCORE } from "./model.js";
import { type NodeUtilization, type VpsState, Workspace } from "./workspace.js";

export interface Move {
  readonly vpsId: string;
  readonly vpsName: string;
  readonly fromNodeId: string;
  readonly fromNode: string;
  readonly toNodeId: string;
  readonly toNode: string;
  /** The score before and after this move (in the plan's mode). */
  readonly scoreBefore: number;
  readonly scoreAfter: number;
  /**
   * What the move earns, in fractions of a node: how much closer to the mean the two nodes get,
   * minus its migration cost and any placement-group penalty (see Workspace.localGain).
   */
  readonly gain: number;
  /** Estimated migration time (RAM + disk, inflated by the dirty rate). */
  readonly estimatedSeconds: number;
  readonly reason: string;
}

export type PlanOutcome =
  /** The score is where it should be (below the threshold, or below the hysteresis floor). */
  | "balanced"
  /** Moves were planned and the score is still above the floor: more rounds will follow. */
  | "in-progress"
  /** Nothing worth doing is allowed: no move improves enough, or every candidate is guarded. */
  | "no-improving-move"
  /** Improving moves exist but the concurrency caps (or the round's move budget) hold them back. */
  | "capped";

export interface Plan {
  readonly mode: BalancerSettings["mode"];
  readonly threshold: number;
  /** Balancing stops once the score is at or below this (threshold × (1 − hysteresis)). */
  readonly floor: number;
  readonly scoreBefore: number;
  readonly scoreAfter: number;
  /** Placement-group penalty before and after (violations, weighted). */
  readonly penaltyBefore: number;
  readonly penaltyAfter: number;
  readonly moves: readonly Move[];
  readonly outcome: PlanOutcome;
  /** Hysteresis state for the next round: keep balancing even below the threshold. */
  readonly balancing: boolean;
  /** Why candidates were passed over, counted (cooldown, not movable, caps, ...). */
  readonly skipped: Readonly<Record<string, number>>;
}

export interface PlanOptions {
  /** The hysteresis state the previous round left (Plan.balancing). */
  readonly balancing: boolean;
  readonly now: number;
  /** Honour the in-flight caps (a round to execute) or not (a dry run of the whole way). */
  readonly respectCaps: boolean;
  /** Moves in this plan at most (default: settings.maxMovesPerRound when capped, else 1,000). */
  readonly maxMoves?: number;
  /**
   * Up to this many active nodes every node is a candidate target; above it, the `targets`
   * least (spread) or most (pack) loaded ones, which keeps a step O(VPSes × targets).
   */
  readonly exhaustiveUpTo?: number;
  readonly targets?: number;
}

const EXHAUSTIVE_UP_TO = 64;
const PRUNED_TARGETS = 16;

/** Counts migrations in flight per node and overall, planned ones included. */
class Caps {
  private readonly perNode: number[];
  private total: number;

  constructor(
    ws: Workspace,
    private readonly settings: BalancerSettings,
    private readonly enforce: boolean,
  ) {
    this.perNode = ws.nodes.map(() => 0);
    this.total = ws.model.inFlight.length;
    for (const m of ws.model.inFlight) {
      for (const id of [m.sourceNodeId, m.targetNodeId]) {
        const i = ws.index(id);
        if (i !== undefined) this.perNode[i]!++;
      }
    }
  }

  allows(from: number, to: number): boolean {
    if (!this.enforce) return true;
    return (
      this.total < this.settings.maxConcurrent &&
      this.perNode[from]! < this.settings.maxConcurrentPerNode &&
      this.perNode[to]! < this.settings.maxConcurrentPerNode
    );
  }

  /** True when nothing more can start anywhere. */
  exhausted(): boolean {
    return this.enforce && this.total >= this.settings.maxConcurrent;
  }

  add(from: number, to: number): void {
    this.total++;
    this.perNode[from]!++;
    this.perNode[to]!++;
  }
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Can the balancer move this VPS at all (before looking at targets)? Null when it can. */
function guard(
  ws: Workspace,
  vpsId: string,
  settings: BalancerSettings,
  now: number,
  moved: ReadonlySet<string>,
  inFlight: ReadonlySet<string>,
  ignoreCooldown: boolean,
): string | null {
  const v = ws.vps(vpsId)!;
  if (inFlight.has(vpsId)) return "migrating";
  if (moved.has(vpsId)) return "moved in this plan";
  if (!v.vps.movable) return "not running";
  if (!ignoreCooldown && v.vps.lastMigratedAt !== null && now - v.vps.lastMigratedAt < settings.cooldownMs)
    return "cooldown";
  return null;
}

export function planRound(
  model: ClusterModel,
  settings: BalancerSettings,
  policy: PlacementPolicy,
  opts: PlanOptions,
): Plan {
  const ws = new Workspace(model, policy);
  return settings.mode === "pack" ? planPack(ws, settings, opts) : planSpread(ws, settings, opts);
}

function limits(settings: BalancerSettings, opts: PlanOptions) {
  return {
    maxMoves: opts.maxMoves ?? (opts.respectCaps ? settings.maxMovesPerRound : 1000),
    floor: settings.threshold * (1 - settings.hysteresis),
  };
}

function planSpread(ws: Workspace, settings: BalancerSettings, opts: PlanOptions): Plan {
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

function* candidatesOn(ws: Workspace, nodes: readonly number[]): Generator<VpsState> {
  for (const n of nodes) for (const id of ws.nodes[n]!.vpsIds) yield ws.vps(id)!;
}

/** Nodes holding members of the group (affinity targets the pruned list may have missed). */
function groupNodes(ws: Workspace, groupId: string, active: readonly number[]): number[] {
  return active.filter((i) => ws.membersOn(groupId, i) > 0);
}

/** Reproducible choice between equal moves: by VPS name, then target name. */
function tieBreak(
  ws: Workspace,
  vpsId: string,
  target: number,
  best: { vpsId: string; target: number },
): boolean {
  const a = ws.vps(vpsId)!.vps.name;
  const b = ws.vps(best.vpsId)!.vps.name;
  if (a !== b) return a < b;
  return ws.nodes[target]!.load.name < ws.nodes[best.target]!.load.name;
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function describe(u: NodeUtilization): string {
  return `cpu ${pct(u.cpu)}, memory ${pct(u.memory)}`;
}

function spreadReason(ws: Workspace, from: number, to: number, penaltyDelta: number): string {
  const f = ws.nodes[from]!.load.name;
  const t = ws.nodes[to]!.load.name;
  const rules = penaltyDelta < 0 ? "; repairs a placement-group rule" : "";
  return `spread: ${f} (${describe(ws.utilization(from))}) is busier than ${t} (${describe(ws.utilization(to))})${rules}`;
}

function moveOf(
  ws: Workspace,
  vpsId: string,
  from: number,
  to: number,
  scoreBefore: number,
  scoreAfter: number,
  gain: number,
  reason: string,
): Move {
  return {
    vpsId,
    vpsName: ws.vps(vpsId)!.vps.name,
    fromNodeId: ws.ids[from]!,
    fromNode: ws.nodes[from]!.load.name,
    toNodeId: ws.ids[to]!,
    toNode: ws.nodes[to]!.load.name,
    scoreBefore,
    scoreAfter,
    gain,
    estimatedSeconds: ws.migrationSeconds(vpsId, to),
    reason,
  };
}

function finish(
  ws: Workspace,
  settings: BalancerSettings,
  floor: number,
  scoreBefore: number,
  scoreAfter: number,
  penaltyBefore: number,
  moves: Move[],
  outcome: PlanOutcome,
  skipped: Record<string, number>,
): Plan {
  return {
    mode: settings.mode,
    threshold: settings.threshold,
    floor,
    scoreBefore,
    scoreAfter,
    penaltyBefore,
    penaltyAfter: ws.penalty(),
    moves,
    outcome,
    // Keep going next round while work remains above the floor; stop (and wait for the
    // threshold again) once balanced or when nothing helps.
    balancing: outcome === "in-progress" || outcome === "capped",
    skipped,
  };
}

function planPack(ws: Workspace, settings: BalancerSettings, opts: PlanOptions): Plan {
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

export interface Evacuation {
  readonly moves: readonly Move[];
  /** VPSes that will move once the caps allow (migrations in flight). */
  readonly waiting: readonly { vpsId: string; vpsName: string; nodeId: string; reason: string }[];
  /** VPSes that cannot move now: not running, or no node can take them. */
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
      if (why) {
        blocked.push({
          ...entry,
          reason: why === "not running" ? "not running: only a running VPS moves live" : why,
        });
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

/** Per-node figures for operators: utilization and how far from the mean each node is. */
export interface NodeScore {
  readonly nodeId: string;
  readonly name: string;
  readonly active: boolean;
  readonly vpsCount: number;
  readonly cpu: number;
  readonly memory: number;
  readonly dirtyPagesPerSec: number;
  /** Weighted distance above (+) or below (−) the cluster mean: what spread mode evens out. */
  readonly deviation: number;
}

export interface ClusterScore {
  readonly spread: number;
  readonly pack: number;
  readonly penalty: number;
  readonly nodes: readonly NodeScore[];
}

export function scoreCluster(
  model: ClusterModel,
  settings: BalancerSettings,
  policy: PlacementPolicy,
): ClusterScore {
  const ws = new Workspace(model, policy);
  const mean = { cpu: ws.mean("cpu"), memory: ws.mean("memory") };
  return {
    spread: ws.spreadScore(),
    pack: ws.packScore(settings.packMaxUtilization),
    penalty: ws.penalty(),
    nodes: ws.nodes.map((n) => {
      const u = ws.utilization(n.index);
      return {
        nodeId: n.load.id,
        name: n.load.name,
        active: n.active,
        vpsCount: n.vpsIds.size,
        cpu: u.cpu,
        memory: u.memory,
        dirtyPagesPerSec: n.dirtyPagesPerSec,
        deviation: n.active
          ? SCORE.weights.cpu * (u.cpu - mean.cpu) + SCORE.weights.memory * (u.memory - mean.memory)
          : 0,
      };
    }),
  };
}
