import { rng } from "@skiff/devkit";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../domain/placement.js";
import { type BalancerSettings, type BalancerVps, type ClusterModel, DEFAULT_SETTINGS } from "./model.js";
import { planEvacuation, planRound, scoreCluster } from "./planner.js";
import { applyMoves, simNodes, simulate, simVps, spreadOf } from "./simulate.js";

const MiB = 2 ** 20;
const NOW = 2_000_000_000;
const S: BalancerSettings = { ...DEFAULT_SETTINGS, enabled: true };

function skewed(count = 30, nodes = 3): ClusterModel {
  const ns = simNodes(nodes);
  return {
    nodes: ns,
    vpses: Array.from({ length: count }, (_, i) => simVps(`v${String(i).padStart(2, "0")}`, ns[0]!.id)),
    groups: [],
    inFlight: [],
  };
}

const round = (m: ClusterModel, s = S, balancing = false) =>
  planRound(m, s, DEFAULT_POLICY, { balancing, now: NOW, respectCaps: true });

describe("spread", () => {
  it("evens out 30 VPSes on one of 3 nodes in at most 20 moves, then stays quiet", () => {
    const { model, trace } = simulate(skewed(), S, DEFAULT_POLICY, { rounds: 40 });
    const moves = trace.flatMap((t) => t.plan.moves);
    expect(moves.length).toBeLessThanOrEqual(20);
    const counts = [...spreadOf(model).values()].sort((a, b) => a - b);
    expect(counts[2]! - counts[0]!).toBeLessThanOrEqual(2);
    const last = trace.findLastIndex((t) => t.plan.moves.length > 0);
    expect(last).toBeLessThan(20);
    // Quiet afterwards: every later round plans nothing.
    expect(
      trace.slice(last + 1).every((t) => t.plan.moves.length === 0 && t.plan.outcome === "balanced"),
    ).toBe(true);
    expect(trace.at(-1)!.plan.scoreBefore).toBeLessThanOrEqual(S.threshold * (1 - S.hysteresis));
    // No VPS went back and forth.
    const seen = new Map<string, number>();
    for (const m of moves) seen.set(m.vpsId, (seen.get(m.vpsId) ?? 0) + 1);
    expect(Math.max(...seen.values())).toBe(1);
  });

  it("counts a shared disk only where it would be copied: to a node on its storage only ownership moves", () => {
    // node-0 holds everything; node-1 mounts the same shared storage, node-2 keeps disks locally.
    const [n0, n1, n2] = simNodes(3);
    const nodes = [
      { ...n0!, storageId: "s1" },
      { ...n1!, storageId: "s1" },
      { ...n2!, storageId: null },
    ];
    const disk = { diskBytes: 8192 * MiB, diskStorageId: "s1" };
    const model: ClusterModel = {
      nodes,
      vpses: Array.from({ length: 12 }, (_, i) => simVps(`v${String(i).padStart(2, "0")}`, n0!.id, disk)),
      groups: [],
      inFlight: [],
    };
    const plan = planRound(model, S, DEFAULT_POLICY, { balancing: false, now: NOW, respectCaps: false });
    const to = (name: string) => plan.moves.filter((m) => m.toNode === name);
    expect(to("node-0001").length).toBeGreaterThan(0);
    // RAM alone (64 MiB) to node-1; RAM and the 8 GiB disk to node-2, which costs so much more
    // that the planner leaves node-2 empty rather than copy disks there.
    for (const m of to("node-0001")) expect(m.estimatedSeconds).toBeLessThan(1);
    expect(to("node-0002")).toHaveLength(0);
  });

  it("each planned move lowers the score by at least the minimum improvement", () => {
    const plan = planRound(skewed(), S, DEFAULT_POLICY, { balancing: false, now: NOW, respectCaps: false });
    expect(plan.moves.length).toBeGreaterThan(5);
    for (const m of plan.moves) {
      expect(m.scoreAfter).toBeLessThan(m.scoreBefore);
      expect(m.gain).toBeGreaterThanOrEqual(S.minImprovement);
    }
    expect(plan.scoreAfter).toBeLessThanOrEqual(plan.floor);
    expect(plan.outcome).toBe("balanced");
    expect(plan.moves[0]!.reason).toMatch(
      /^spread: node-0000 \(cpu 0%, memory 47%\) is busier than node-000[12]/,
    );
  });

  it("does nothing below the threshold, and with hysteresis keeps going to the floor once started", () => {
    // 12 / 10 / 8: above the floor (0.01), below the threshold (0.02).
    const ns = simNodes(3);
    const vpses = [12, 10, 8].flatMap((k, n) =>
      Array.from({ length: k }, (_, i) => simVps(`n${n}v${i}`, ns[n]!.id)),
    );
    const m: ClusterModel = { nodes: ns, vpses, groups: [], inFlight: [] };
    const idle = round(m);
    expect(idle.scoreBefore).toBeGreaterThan(idle.floor);
    expect(idle.scoreBefore).toBeLessThan(S.threshold);
    expect(idle).toMatchObject({ outcome: "balanced", moves: [], balancing: false });
    const busy = round(m, S, true);
    expect(busy.moves.length).toBeGreaterThan(0);
    expect(busy.scoreAfter).toBeLessThanOrEqual(busy.floor);
    expect(busy.balancing).toBe(false);
  });

  it("refuses moves that do not earn the minimum improvement", () => {
    const plan = round(skewed(), { ...S, minImprovement: 0.5 });
    expect(plan).toMatchObject({ outcome: "no-improving-move", moves: [] });
  });

  it("leaves VPSes in their cooldown, unmovable ones and those already migrating where they are", () => {
    const base = skewed(6);
    const m: ClusterModel = {
      ...base,
      vpses: base.vpses.map((v, i) =>
        i < 2
          ? { ...v, lastMigratedAt: NOW - 60_000 }
          : i < 4
            ? { ...v, movable: false }
            : i === 4
              ? { ...v, lastMigratedAt: NOW - S.cooldownMs - 1 }
              : v,
      ),
      inFlight: [{ vpsId: "v05", sourceNodeId: "n0000", targetNodeId: "n0001" }],
    };
    const plan = round(m, S, true);
    expect(plan.moves.map((x) => x.vpsId)).toEqual(["v04"]);
    expect(plan.skipped).toMatchObject({ cooldown: 2, "not running": 2, migrating: 1 });
    // v05 counts on its target already: v04 goes to the third node.
    expect(plan.moves[0]!.toNodeId).toBe("n0002");
  });

  it("caps migrations per node and cluster-wide, in-flight ones included", () => {
    const perNode = round(skewed(), { ...S, maxConcurrentPerNode: 2, maxMovesPerRound: 10 });
    expect(perNode.moves).toHaveLength(2);
    expect(perNode.outcome).toBe("in-progress");
    expect(perNode.balancing).toBe(true);

    const m: ClusterModel = {
      ...skewed(),
      nodes: simNodes(6),
      inFlight: [{ vpsId: "v29", sourceNodeId: "n0000", targetNodeId: "n0001" }],
    };
    const cluster = round(m, { ...S, maxConcurrent: 3, maxConcurrentPerNode: 10, maxMovesPerRound: 10 });
    expect(cluster.moves).toHaveLength(2);
    const full = round(m, { ...S, maxConcurrent: 1, maxConcurrentPerNode: 10 });
    expect(full).toMatchObject({ outcome: "capped", moves: [], balancing: true });
  });

  it("moves away from busy CPUs even when memory is even", () => {
    const ns = simNodes(2, { cpus: 4 });
    const vpses = [
      ...[0, 1, 2, 3].map((i) => simVps(`hot${i}`, ns[0]!.id, { cpuUsed: 0.9 })),
      ...[0, 1, 2, 3].map((i) => simVps(`cold${i}`, ns[1]!.id, { cpuUsed: 0.02 })),
    ];
    const plan = round({ nodes: ns, vpses, groups: [], inFlight: [] }, { ...S, maxMovesPerRound: 10 });
    // Swapping load needs two moves: a hot one out, a cold one back.
    expect(plan.moves.some((m) => m.vpsId.startsWith("hot") && m.toNodeId === ns[1]!.id)).toBe(true);
    expect(plan.scoreAfter).toBeLessThan(plan.scoreBefore / 2);
  });

  it("prefers moving a quiet VPS over one that dirties memory fast (cheaper to migrate)", () => {
    const ns = simNodes(2);
    const big = { memoryBytes: 512 * MiB };
    const vpses = [
      simVps("a-busy", ns[0]!.id, { ...big, dirtyPagesPerSec: 40_000 }),
      simVps("b-quiet", ns[0]!.id, { ...big, dirtyPagesPerSec: 10 }),
      simVps("c-busy", ns[0]!.id, { ...big, dirtyPagesPerSec: 30_000 }),
    ];
    const plan = round({ nodes: ns, vpses, groups: [], inFlight: [] });
    expect(plan.moves.map((m) => m.vpsId)).toEqual(["b-quiet"]);
    // 512 MiB at 250 MB/s; the busy one (164 MB/s dirtied) would take about 3× as long.
    expect(plan.moves[0]!.estimatedSeconds).toBeCloseTo(2.15, 1);
  });

  it("never uses a node in maintenance or unhealthy as a target, never moves off a dead node", () => {
    const ns = [
      ...simNodes(2),
      { ...simNodes(3)[2]!, maintenance: true },
      { ...simNodes(4)[3]!, status: "unreachable" as const },
    ];
    const vpses = [
      ...Array.from({ length: 10 }, (_, i) => simVps(`v${i}`, ns[0]!.id)),
      ...Array.from({ length: 10 }, (_, i) => simVps(`dead${i}`, ns[3]!.id)),
    ];
    const plan = planRound({ nodes: ns, vpses, groups: [], inFlight: [] }, S, DEFAULT_POLICY, {
      balancing: true,
      now: NOW,
      respectCaps: false,
    });
    expect(plan.moves.length).toBeGreaterThanOrEqual(4);
    expect(plan.moves.length).toBeLessThanOrEqual(5);
    expect(plan.moves.every((m) => m.fromNodeId === ns[0]!.id && m.toNodeId === ns[1]!.id)).toBe(true);
  });

  it("holds its invariants on random clusters: capacity, health, strict groups, one move per VPS, gain", () => {
    for (let seed = 1; seed <= 25; seed++) {
      const r = rng(seed);
      const ns = simNodes(3 + Math.floor(r() * 8)).map((n) => ({
        ...n,
        memoryBytes: (1 + Math.floor(r() * 4)) * 1024 * MiB,
        cpus: 2 + Math.floor(r() * 6),
        maintenance: r() < 0.1,
        status: r() < 0.1 ? ("unreachable" as const) : ("ready" as const),
      }));
      const groups = [
        { id: "aa", policy: "anti_affinity" as const, strict: true },
        { id: "af", policy: "affinity" as const, strict: true },
        { id: "sa", policy: "anti_affinity" as const, strict: false },
      ];
      const used = new Map(ns.map((n) => [n.id, 0]));
      const vpses: BalancerVps[] = [];
      for (let i = 0; i < 60; i++) {
        const memoryBytes = (32 + Math.floor(r() * 8) * 32) * MiB;
        // Skewed: most VPSes land on the first nodes (where they fit).
        const n = ns.find((x) => used.get(x.id)! + memoryBytes <= x.memoryBytes && r() < 0.6);
        if (!n) continue;
        used.set(n.id, used.get(n.id)! + memoryBytes);
        const g = r();
        vpses.push(
          simVps(`v${i}`, n.id, {
            memoryBytes,
            cpuShare: 25,
            cpuUsed: r() * 0.6,
            dirtyPagesPerSec: r() * 20_000,
            movable: r() < 0.9,
            groupId: g < 0.1 ? "aa" : g < 0.15 ? "af" : g < 0.25 ? "sa" : null,
          }),
        );
      }
      const model: ClusterModel = { nodes: ns, vpses, groups, inFlight: [] };
      const plan = planRound(model, S, DEFAULT_POLICY, { balancing: true, now: NOW, respectCaps: false });
      const byId = new Map(ns.map((n) => [n.id, n]));
      const where = new Map(vpses.map((v) => [v.id, v.nodeId]));
      const seen = new Set<string>();
      const strictViolations = (groupId: string) => {
        const per = new Map<string, number>();
        for (const v of vpses)
          if (v.groupId === groupId) per.set(where.get(v.id)!, (per.get(where.get(v.id)!) ?? 0) + 1);
        return groupId === "aa" ? [...per.values()].reduce((a, c) => a + Math.max(0, c - 1), 0) : per.size;
      };
      for (const m of plan.moves) {
        const v = vpses.find((x) => x.id === m.vpsId)!;
        const to = byId.get(m.toNodeId)!;
        const from = byId.get(m.fromNodeId)!;
        expect(seen.has(v.id), `seed ${seed}: ${v.id} moved twice`).toBe(false);
        seen.add(v.id);
        expect(v.movable).toBe(true);
        expect(to.status === "ready" && !to.maintenance, `seed ${seed}: target ${to.name}`).toBe(true);
        expect(from.status === "ready" && !from.maintenance).toBe(true);
        expect(m.gain).toBeGreaterThanOrEqual(S.minImprovement);
        const aa = strictViolations("aa");
        const af = strictViolations("af");
        where.set(v.id, m.toNodeId);
        expect(strictViolations("aa")).toBeLessThanOrEqual(aa);
        expect(strictViolations("af")).toBeLessThanOrEqual(af);
        const mem = vpses.filter((x) => where.get(x.id) === to.id).reduce((a, x) => a + x.memoryBytes, 0);
        expect(mem, `seed ${seed}: ${to.name} overbooked`).toBeLessThanOrEqual(to.memoryBytes);
      }
      expect(plan.scoreAfter + plan.penaltyAfter / ns.length).toBeLessThanOrEqual(
        plan.scoreBefore + plan.penaltyBefore / ns.length,
      );
    }
  });
});

describe("placement groups", () => {
  const ns = simNodes(3);
  const crowded = (strict: boolean, policy: "anti_affinity" | "affinity"): ClusterModel => ({
    nodes: ns,
    vpses: [
      ...Array.from({ length: 8 }, (_, i) => simVps(`g${i}`, ns[0]!.id, { groupId: "g" })),
      simVps("x", ns[1]!.id, { groupId: "g" }),
    ],
    groups: [{ id: "g", policy, strict }],
    inFlight: [],
  });

  it("strict anti-affinity: never puts two members together; repairs violations first", () => {
    const plan = planRound(crowded(true, "anti_affinity"), S, DEFAULT_POLICY, {
      balancing: true,
      now: NOW,
      respectCaps: false,
    });
    // Only node-0002 has no member: one move repairs a violation, then nothing more is allowed.
    expect(plan.moves).toHaveLength(1);
    expect(plan.moves[0]!.toNodeId).toBe(ns[2]!.id);
    expect(plan.moves[0]!.reason).toMatch(/repairs a placement-group rule/);
    expect(plan.penaltyAfter).toBeLessThan(plan.penaltyBefore);
  });

  it("strict affinity: never splits the group, however uneven the load", () => {
    const m = crowded(true, "affinity");
    const plan = planRound({ ...m, vpses: m.vpses.filter((v) => v.id !== "x") }, S, DEFAULT_POLICY, {
      balancing: true,
      now: NOW,
      respectCaps: false,
    });
    expect(plan.moves).toEqual([]);
    // A stray member joins the others (fewer nodes for the group).
    const rejoin = planRound(m, S, DEFAULT_POLICY, { balancing: true, now: NOW, respectCaps: false });
    expect(rejoin.moves.map((x) => x.vpsId)).not.toContain("g0");
    expect(rejoin.moves.every((x) => x.toNodeId !== ns[2]!.id)).toBe(true);
  });

  it("soft affinity: breaks the rule only when the load gain outweighs it", () => {
    const m = crowded(false, "affinity");
    const plan = planRound({ ...m, vpses: m.vpses.filter((v) => v.id !== "x") }, S, DEFAULT_POLICY, {
      balancing: true,
      now: NOW,
      respectCaps: false,
    });
    // 8 small VPSes on one node are not worth the 0.1 penalty of splitting the group.
    expect(plan.moves).toEqual([]);
  });
});

describe("pack", () => {
  const P: BalancerSettings = {
    ...S,
    mode: "pack",
    maxMovesPerRound: 20,
    maxConcurrentPerNode: 20,
    maxConcurrent: 20,
  };

  it("frees whole nodes: the emptiest goes first, targets stay under the pack limit", () => {
    const ns = simNodes(4);
    // 20 / 12 / 6 / 2 VPSes of 64 MiB on 4 GiB nodes (limit 85% = 54 VPSes).
    const vpses = [20, 12, 6, 2].flatMap((k, n) =>
      Array.from({ length: k }, (_, i) => simVps(`n${n}v${i}`, ns[n]!.id, { cpuShare: 25 })),
    );
    const m: ClusterModel = { nodes: ns, vpses, groups: [], inFlight: [] };
    const before = scoreCluster(m, P, DEFAULT_POLICY);
    expect(before.pack).toBeCloseTo(3 / 4);
    const plan = round(m, P);
    expect(plan.moves.length).toBe(20); // the budget: 2 + 6 + 12 moves would free three nodes
    const after = spreadOf(applyMoves(m, plan.moves, NOW));
    expect(after.get(ns[3]!.id)).toBe(0);
    expect(after.get(ns[2]!.id)).toBe(0);
    expect(Math.max(...after.values())).toBeLessThanOrEqual(54);
    expect(plan.moves[0]!.reason).toMatch(/^pack: free node-0003/);
    // Full plan: everything on one node (40 × 64 MiB = 62%).
    const full = planRound(m, P, DEFAULT_POLICY, { balancing: false, now: NOW, respectCaps: false });
    expect(full.scoreAfter).toBe(0);
    expect([...spreadOf(applyMoves(m, full.moves, NOW)).values()].filter((c) => c > 0)).toEqual([40]);
  });

  it("stops when no node can be freed within the limit, and stays quiet", () => {
    const ns = simNodes(3);
    // 40 per node: 62% each; freeing one would need 93% elsewhere.
    const vpses = [40, 40, 40].flatMap((k, n) =>
      Array.from({ length: k }, (_, i) => simVps(`n${n}v${i}`, ns[n]!.id)),
    );
    const { trace } = simulate({ nodes: ns, vpses, groups: [], inFlight: [] }, P, DEFAULT_POLICY, {
      rounds: 5,
    });
    expect(trace.flatMap((t) => t.plan.moves)).toEqual([]);
  });

  it("respects the caps: a node is emptied over several rounds", () => {
    const ns = simNodes(2);
    const vpses = [10, 6].flatMap((k, n) =>
      Array.from({ length: k }, (_, i) => simVps(`n${n}v${i}`, ns[n]!.id)),
    );
    const capped = { ...P, maxConcurrentPerNode: 2, maxMovesPerRound: 4 };
    const { model, trace } = simulate(
      { nodes: ns, vpses, groups: [], inFlight: [] },
      capped,
      DEFAULT_POLICY,
      {
        rounds: 6,
      },
    );
    expect(trace.map((t) => t.plan.moves.length)).toEqual([2, 2, 2, 0, 0, 0]);
    expect(spreadOf(model).get(ns[1]!.id)).toBe(0);
  });
});

describe("drain", () => {
  it("moves every VPS off a node in maintenance (stopped ones cold), within the caps, and says what is left", () => {
    const ns = simNodes(3).map((n, i) => (i === 0 ? { ...n, maintenance: true } : n));
    const vpses = [
      ...Array.from({ length: 6 }, (_, i) => simVps(`v${i}`, ns[0]!.id, { memoryBytes: (64 + i) * MiB })),
      simVps("broken", ns[0]!.id, { movable: false, state: "error" }),
      simVps("stopped", ns[0]!.id, { movable: false, coldMovable: true, state: "stopped" }),
      simVps("recent", ns[0]!.id, { lastMigratedAt: NOW - 1000 }),
    ];
    const m: ClusterModel = { nodes: ns, vpses, groups: [], inFlight: [] };
    const capped = planEvacuation(m, { ...S, maxConcurrentPerNode: 3 }, DEFAULT_POLICY, {
      now: NOW,
      respectCaps: true,
    });
    expect(capped.moves).toHaveLength(3);
    // Largest first, alternating between the two other nodes.
    expect(capped.moves.map((x) => x.vpsId)).toEqual(["v5", "v4", "v3"]);
    expect(new Set(capped.moves.map((x) => x.toNodeId)).size).toBe(2);
    expect(capped.waiting.map((w) => w.vpsId).sort()).toEqual(["recent", "stopped", "v0", "v1", "v2"].sort());
    // What needs someone says what to do.
    expect(capped.blocked).toEqual([
      expect.objectContaining({
        vpsId: "broken",
        reason: expect.stringMatching(/^in error: start, stop or delete it/),
      }),
    ]);
    const all = planEvacuation(m, S, DEFAULT_POLICY, { now: NOW, respectCaps: false });
    expect(all.moves).toHaveLength(8); // the cooldown does not hold a drain back
    const after = spreadOf(applyMoves(m, all.moves, NOW));
    expect(after.get(ns[0]!.id)).toBe(1); // the broken one
    expect(Math.abs(after.get(ns[1]!.id)! - after.get(ns[2]!.id)!)).toBeLessThanOrEqual(1);
  });

  it("counts migrations in flight and reports what cannot go anywhere", () => {
    const ns = simNodes(2).map((n, i) => (i === 0 ? { ...n, maintenance: true } : n));
    const m: ClusterModel = {
      nodes: ns,
      vpses: [
        simVps("a", ns[0]!.id, { groupId: "g" }),
        simVps("b", ns[0]!.id, { groupId: "g" }),
        simVps("c", ns[0]!.id),
      ],
      groups: [{ id: "g", policy: "anti_affinity", strict: true }],
      inFlight: [{ vpsId: "c", sourceNodeId: ns[0]!.id, targetNodeId: ns[1]!.id }],
    };
    const e = planEvacuation(m, S, DEFAULT_POLICY, { now: NOW, respectCaps: true });
    expect(e.migrating).toBe(1);
    expect(e.moves.map((x) => x.vpsId)).toEqual(["a"]);
    expect(e.blocked).toEqual([
      expect.objectContaining({ vpsId: "b", reason: expect.stringMatching(/anti-affinity/) }),
    ]);
  });
});

describe("scale", () => {
  // Planning time is measured by the balancer benchmark, not asserted here (shared CI machines).
  it("plans a round over 200 nodes and 2,000 VPSes, with pruned targets", () => {
    const r = rng(7);
    const ns = simNodes(200);
    const vpses = Array.from({ length: 2_000 }, (_, i) =>
      simVps(`v${i}`, ns[Math.floor(r() ** 2 * 200)]!.id, {
        cpuUsed: r() * 0.5,
        dirtyPagesPerSec: r() * 5000,
      }),
    );
    const m: ClusterModel = { nodes: ns, vpses, groups: [], inFlight: [] };
    const plan = planRound(m, { ...S, maxConcurrent: 50, maxMovesPerRound: 20 }, DEFAULT_POLICY, {
      balancing: true,
      now: NOW,
      respectCaps: true,
    });
    expect(plan.moves).toHaveLength(20);
    expect(plan.scoreAfter).toBeLessThan(plan.scoreBefore);
  });
});
