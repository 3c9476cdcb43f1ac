/**
 * Balancer planning benchmark (simulated clusters, no database): how many migrations and rounds
 * it takes to even out a skewed start, and how planning time grows with the cluster.
 *
 *   pnpm --filter @skiff/api exec tsx src/services/balancer/balancer.bench.ts [--json]
 */

import { rng } from "@skiff/devkit";
import { DEFAULT_POLICY } from "../../domain/placement.js";
import { type BalancerSettings, type ClusterModel, DEFAULT_SETTINGS } from "./model.js";
import { planRound } from "./planner.js";
import { simNodes, simulate, simVps, spreadOf } from "./simulate.js";

const MiB = 2 ** 20;
const json = process.argv.includes("--json");
const S: BalancerSettings = { ...DEFAULT_SETTINGS, enabled: true };
const INTERVAL_MS = 5000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time<T>(fn: () => T, reps: number): { ms: number; result: T } {
  let result = fn(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    result = fn();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), result };
}

/** The scenario: 30 VPSes on one of 3 nodes. */
function skewedStart() {
  const ns = simNodes(3, { memoryBytes: 4096 * MiB });
  const model: ClusterModel = {
    nodes: ns,
    vpses: Array.from({ length: 30 }, (_, i) => simVps(`v${i}`, ns[0]!.id, { memoryBytes: 64 * MiB })),
    groups: [],
    inFlight: [],
  };
  const rows = [];
  for (const [label, settings] of [
    ["defaults (2 per node, 4 in all)", S],
    ["4 per node, 8 in all", { ...S, maxConcurrentPerNode: 4, maxConcurrent: 8, maxMovesPerRound: 8 }],
  ] as const) {
    // Each round's migrations finish before the next round (a 64 MiB VPS moves in well under the interval).
    const { model: end, trace } = simulate(model, settings, DEFAULT_POLICY, {
      rounds: 40,
      roundsInFlight: 1,
    });
    const moves = trace.flatMap((t) => t.plan.moves).length;
    const lastActive = trace.findLastIndex((t) => t.plan.moves.length > 0);
    const quietAfter = trace.slice(lastActive + 1).every((t) => t.plan.moves.length === 0);
    rows.push({
      scenario: `30 VPSes on 1 of 3 nodes, ${label}`,
      migrations: moves,
      rounds: lastActive + 1,
      // Until the last migration has finished: one more round after the last start.
      timeToThresholdS: ((lastActive + 2) * INTERVAL_MS) / 1000,
      planMsTotal: trace.reduce((a, t) => a + t.planMs, 0),
      finalSpread: [...spreadOf(end).values()].sort((a, b) => b - a).join("/"),
      finalScore: trace.at(-1)!.plan.scoreBefore,
      quietAfter,
    });
  }
  return rows;
}

/** A skewed cluster of `n` nodes with 10 VPSes per node on average, measured load and dirty rates. */
function bigCluster(n: number, seed = 42): ClusterModel {
  const r = rng(seed);
  const ns = simNodes(n, { memoryBytes: 8192 * MiB, cpus: 16 });
  const vpses = Array.from({ length: n * 10 }, (_, i) =>
    simVps(`v${i}`, ns[Math.floor(r() ** 2 * n)]!.id, {
      memoryBytes: (32 + Math.floor(r() * 8) * 32) * MiB,
      cpuShare: 25,
      cpuUsed: r() * 0.8,
      dirtyPagesPerSec: r() * 20_000,
      groupId: r() < 0.05 ? `g${i % 50}` : null,
    }),
  );
  const groups = Array.from({ length: 50 }, (_, i) => ({
    id: `g${i}`,
    policy: i % 2 ? ("anti_affinity" as const) : ("affinity" as const),
    strict: i % 3 !== 0,
  }));
  return { nodes: ns, vpses, groups, inFlight: [] };
}

function scaling() {
  const rows = [];
  for (const n of [100, 1000]) {
    const m = bigCluster(n);
    const opts = (respectCaps: boolean, extra = {}) => ({ balancing: true, now: 2e9, respectCaps, ...extra });
    const round = time(() => planRound(m, S, DEFAULT_POLICY, opts(true)), 5);
    const big = { ...S, maxConcurrent: 1000, maxConcurrentPerNode: 1000, maxMovesPerRound: 50 };
    const fifty = time(() => planRound(m, big, DEFAULT_POLICY, opts(true)), 3);
    const full = time(() => planRound(m, S, DEFAULT_POLICY, opts(false, { maxMoves: 500 })), 1);
    const exhaustive = time(
      () => planRound(m, big, DEFAULT_POLICY, opts(true, { maxMoves: 10, exhaustiveUpTo: 100_000 })),
      1,
    );
    rows.push({
      nodes: n,
      vpses: m.vpses.length,
      roundMs: round.ms,
      roundMoves: round.result.moves.length,
      perMoveMs: fifty.ms / Math.max(1, fifty.result.moves.length),
      fullPlanMs: full.ms,
      fullPlanMoves: full.result.moves.length,
      fullPlanScore: `${full.result.scoreBefore.toFixed(3)} → ${full.result.scoreAfter.toFixed(3)}`,
      exhaustivePerMoveMs: exhaustive.ms / Math.max(1, exhaustive.result.moves.length),
    });
    const pack = { ...S, mode: "pack" as const, maxConcurrent: 1000, maxConcurrentPerNode: 1000 };
    const spreadOut: ClusterModel = {
      ...m,
      // Evenly spread at ~20%: pack mode should free most nodes.
      vpses: m.vpses.map((v, i) => ({ ...v, nodeId: m.nodes[i % n]!.id, groupId: null })),
      groups: [],
    };
    const p = time(() => planRound(spreadOut, pack, DEFAULT_POLICY, opts(false, { maxMoves: 100_000 })), 1);
    rows.push({
      nodes: n,
      vpses: m.vpses.length,
      packPlanMs: p.ms,
      packMoves: p.result.moves.length,
      packScore: `${p.result.scoreBefore.toFixed(3)} → ${p.result.scoreAfter.toFixed(3)}`,
    });
  }
  return rows;
}

const skew = skewedStart();
const scale = scaling();
if (json) {
  for (const r of [...skew, ...scale]) console.log(JSON.stringify(r));
} else {
  console.log("Skewed start (simulated, balancer interval 5 s, each migration done within a round):");
  console.table(skew);
  console.log("Planning time (median; 10 VPSes per node on average, skewed; 5% in placement groups):");
  console.table(scale);
}
