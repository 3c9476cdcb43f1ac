/**
 * Simulated clusters for the planner's tests and benchmark: build a model, run balancer rounds
 * over it with the moves completing instantly (or after a given number of rounds), and count.
 */
import type { PlacementPolicy } from "../../domain/placement.js";
import type {
  BalancerNode,
  BalancerSettings,
  BalancerVps,
  ClusterModel,
  InFlightMigration,
} from "./model.js";
import { type Move, type Plan, planRound } from "./planner.js";

const MiB = 2 ** 20;

export interface SimNodeSpec {
  readonly cpus?: number;
  readonly memoryBytes?: number;
  readonly status?: BalancerNode["status"];
  readonly maintenance?: boolean;
}

export function simNodes(count: number, spec: SimNodeSpec = {}): BalancerNode[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `n${String(i).padStart(4, "0")}`,
    name: `node-${String(i).padStart(4, "0")}`,
    status: spec.status ?? "ready",
    maintenance: spec.maintenance ?? false,
    cpus: spec.cpus ?? 8,
    memoryBytes: spec.memoryBytes ?? 4096 * MiB,
    diskBytes: 1e12,
  }));
}

export function simVps(id: string, nodeId: string, over: Partial<BalancerVps> = {}): BalancerVps {
  return {
    id,
    name: id,
    nodeId,
    vcpus: 1,
    memoryBytes: 64 * MiB,
    diskBytes: 0,
    cpuShare: 100,
    cpuUsed: 0,
    dirtyPagesPerSec: 0,
    groupId: null,
    movable: true,
    lastMigratedAt: null,
    ...over,
  };
}

/** Applies moves to the model, as if their migrations committed. */
export function applyMoves(model: ClusterModel, moves: readonly Move[], now: number): ClusterModel {
  const to = new Map(moves.map((m) => [m.vpsId, m.toNodeId]));
  return {
    ...model,
    vpses: model.vpses.map((v) => {
      const t = to.get(v.id);
      return t ? { ...v, nodeId: t, lastMigratedAt: now } : v;
    }),
  };
}

export interface RoundTrace {
  readonly plan: Plan;
  readonly planMs: number;
}

/**
 * Runs the balancer round after round. Each round's moves are in flight for `roundsInFlight`
 * rounds (0: they complete before the next round), then commit. Stops after `rounds`.
 */
export function simulate(
  model: ClusterModel,
  settings: BalancerSettings,
  policy: PlacementPolicy,
  opts: { rounds: number; roundMs?: number; roundsInFlight?: number; start?: number },
): { model: ClusterModel; trace: RoundTrace[] } {
  let m = model;
  let balancing = false;
  let now = opts.start ?? 1_000_000_000;
  const trace: RoundTrace[] = [];
  let pending: { moves: readonly Move[]; due: number }[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const due = pending.filter((p) => p.due <= r);
    for (const p of due) m = applyMoves(m, p.moves, now);
    pending = pending.filter((p) => p.due > r);
    const inFlight: InFlightMigration[] = pending.flatMap((p) =>
      p.moves.map((x) => ({ vpsId: x.vpsId, sourceNodeId: x.fromNodeId, targetNodeId: x.toNodeId })),
    );
    const t0 = performance.now();
    const plan = planRound({ ...m, inFlight }, settings, policy, { balancing, now, respectCaps: true });
    trace.push({ plan, planMs: performance.now() - t0 });
    balancing = plan.balancing;
    if ((opts.roundsInFlight ?? 0) === 0) m = applyMoves(m, plan.moves, now);
    else if (plan.moves.length) pending.push({ moves: plan.moves, due: r + opts.roundsInFlight! });
    now += opts.roundMs ?? 5_000;
  }
  for (const p of pending) m = applyMoves(m, p.moves, now);
  return { model: m, trace };
}

/** VPS count per node id. */
export function spreadOf(model: ClusterModel): Map<string, number> {
  const out = new Map(model.nodes.map((n) => [n.id, 0]));
  for (const v of model.vpses) out.set(v.nodeId, (out.get(v.nodeId) ?? 0) + 1);
  return out;
}
