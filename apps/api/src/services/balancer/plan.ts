/** What every planning mode shares: the plan's shape, the in-flight caps, guards and move records. */
import type { BalancerSettings } from "./model.js";
import type { NodeUtilization, VpsState, Workspace } from "./workspace.js";

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

export const EXHAUSTIVE_UP_TO = 64;

export const PRUNED_TARGETS = 16;

/** Counts migrations in flight per node and overall, planned ones included. */
export class Caps {
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

export function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Can the balancer move this VPS at all (before looking at targets)? Null when it can. */
export function guard(
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

export function limits(settings: BalancerSettings, opts: PlanOptions) {
  return {
    maxMoves: opts.maxMoves ?? (opts.respectCaps ? settings.maxMovesPerRound : 1000),
    floor: settings.threshold * (1 - settings.hysteresis),
  };
}

export function* candidatesOn(ws: Workspace, nodes: readonly number[]): Generator<VpsState> {
  for (const n of nodes) for (const id of ws.nodes[n]!.vpsIds) yield ws.vps(id)!;
}

/** Nodes holding members of the group (affinity targets the pruned list may have missed). */
export function groupNodes(ws: Workspace, groupId: string, active: readonly number[]): number[] {
  return active.filter((i) => ws.membersOn(groupId, i) > 0);
}

/** Reproducible choice between equal moves: by VPS name, then target name. */
export function tieBreak(
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

export function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export function describe(u: NodeUtilization): string {
  return `cpu ${pct(u.cpu)}, memory ${pct(u.memory)}`;
}

export function moveOf(
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

export function finish(
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
