/**
 * A mutable copy of the cluster that the planner moves VPSes around in. It keeps running sums
 * (per-node load, Σu and Σu² over the active nodes, placement-group members per node), so the
 * score after a candidate move is computed in O(1): planning over 1,000 nodes stays cheap.
 */
import {
  FILTERS,
  type NodeLoad,
  type PlacementPolicy,
  type PlacementRequest,
} from "../../domain/placement.js";
import { type BalancerGroup, type BalancerVps, type ClusterModel, SCORE } from "./model.js";

/** The placement filters a move target must pass (group rules are the balancer's own, below). */
const TARGET_FILTERS = FILTERS.filter(([name]) => ["health", "maintenance", "capacity"].includes(name)).map(
  ([, f]) => f,
);

export type Metric = "cpu" | "memory";
export const METRICS: readonly Metric[] = ["cpu", "memory"];

type Reserved = { -readonly [K in keyof NodeLoad["reserved"]]: number };

interface NodeState {
  readonly index: number;
  readonly active: boolean;
  /** What the placement filters see; `reserved` is the same object as below. */
  readonly load: NodeLoad;
  readonly reserved: Reserved;
  readonly storageId: string | null;
  cpuUsed: number;
  dirtyPagesPerSec: number;
  vpsIds: Set<string>;
}

export interface VpsState {
  readonly vps: BalancerVps;
  readonly request: PlacementRequest;
  node: number;
  readonly group: BalancerGroup | undefined;
}

export interface NodeUtilization {
  readonly cpu: number;
  readonly memory: number;
}

export class Workspace {
  readonly nodes: NodeState[];
  readonly ids: string[];
  private readonly byId = new Map<string, number>();
  private readonly vpses = new Map<string, VpsState>();
  /** group id → node index → members there. */
  private readonly members = new Map<string, Map<number, number>>();
  private readonly sum = { cpu: 0, memory: 0 };
  private readonly sumSq = { cpu: 0, memory: 0 };
  readonly activeCount: number;

  constructor(
    readonly model: ClusterModel,
    readonly policy: PlacementPolicy,
  ) {
    this.ids = model.nodes.map((n) => n.id);
    this.nodes = model.nodes.map((n, index) => {
      this.byId.set(n.id, index);
      const reserved: Reserved = { vpsCount: 0, vcpus: 0, cpuShare: 0, memoryBytes: 0, diskBytes: 0 };
      return {
        index,
        active: n.status === "ready" && !n.maintenance,
        reserved,
        storageId: n.storageId ?? null,
        load: {
          id: n.id,
          name: n.name,
          status: n.status,
          maintenance: n.maintenance,
          cpus: n.cpus,
          memoryBytes: n.memoryBytes,
          diskBytes: n.diskBytes,
          reserved,
          groupMembers: 0,
        },
        cpuUsed: 0,
        dirtyPagesPerSec: 0,
        vpsIds: new Set<string>(),
      };
    });
    this.activeCount = this.nodes.filter((n) => n.active).length;
    const groups = new Map(model.groups.map((g) => [g.id, g]));
    // A migration in flight is counted where it is going: planning must not undo or repeat it.
    const going = new Map(model.inFlight.map((m) => [m.vpsId, m.targetNodeId]));
    for (const v of model.vpses) {
      const node = this.byId.get(going.get(v.id) ?? v.nodeId);
      if (node === undefined) continue;
      const state: VpsState = {
        vps: v,
        request: {
          vcpus: v.vcpus,
          memoryBytes: v.memoryBytes,
          diskBytes: v.diskBytes,
          cpuShare: v.cpuShare,
        },
        node,
        group: v.groupId ? groups.get(v.groupId) : undefined,
      };
      this.vpses.set(v.id, state);
      this.add(state, node);
    }
    for (const n of this.nodes) {
      if (!n.active) continue;
      for (const m of METRICS) {
        const u = this.util(n.index, m);
        this.sum[m] += u;
        this.sumSq[m] += u * u;
      }
    }
  }

  index(nodeId: string): number | undefined {
    return this.byId.get(nodeId);
  }

  vps(id: string): VpsState | undefined {
    return this.vpses.get(id);
  }

  /** Hot paths take the VPS's state object (no lookup); others may pass its id. */
  private st(v: string | VpsState): VpsState {
    return typeof v === "string" ? this.vpses.get(v)! : v;
  }

  allVpses(): IterableIterator<VpsState> {
    return this.vpses.values();
  }

  /** Fraction of the node used: measured CPU over its cores, committed memory over its memory. */
  util(node: number, m: Metric): number {
    const n = this.nodes[node]!;
    if (m === "cpu") return n.load.cpus > 0 ? n.cpuUsed / n.load.cpus : 0;
    return n.load.memoryBytes > 0 ? n.load.reserved.memoryBytes / n.load.memoryBytes : 0;
  }

  utilization(node: number): NodeUtilization {
    return { cpu: this.util(node, "cpu"), memory: this.util(node, "memory") };
  }

  /** One number per node for sorting: the weighted utilization. */
  combined(node: number): number {
    return SCORE.weights.cpu * this.util(node, "cpu") + SCORE.weights.memory * this.util(node, "memory");
  }

  mean(m: Metric): number {
    return this.activeCount > 0 ? this.sum[m] / this.activeCount : 0;
  }

  /** Spread imbalance: the weighted standard deviation of utilization over the active nodes. */
  spreadScore(): number {
    let s = 0;
    for (const m of METRICS) s += SCORE.weights[m] * this.std(this.sum[m], this.sumSq[m]);
    return s;
  }

  private std(sum: number, sumSq: number): number {
    const n = this.activeCount;
    if (n < 2) return 0;
    const mean = sum / n;
    return Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  }

  /** The spread score if the VPS moved to `target` (nothing changes). O(1), no allocation. */
  spreadScoreAfter(vps: string | VpsState, target: number): number {
    const v = this.st(vps);
    const src = this.nodes[v.node]!;
    const dst = this.nodes[target]!;
    let s = 0;
    for (const m of METRICS) {
      const amount = m === "cpu" ? v.vps.cpuUsed : v.vps.memoryBytes;
      let sum = this.sum[m];
      let sumSq = this.sumSq[m];
      if (src.active) {
        const b = this.util(src.index, m);
        const a = b - amount / (m === "cpu" ? src.load.cpus : src.load.memoryBytes || 1);
        sum += a - b;
        sumSq += a * a - b * b;
      }
      if (dst.active) {
        const b = this.util(dst.index, m);
        const a = b + amount / (m === "cpu" ? dst.load.cpus : dst.load.memoryBytes || 1);
        sum += a - b;
        sumSq += a * a - b * b;
      }
      s += SCORE.weights[m] * this.std(sum, sumSq);
    }
    return s;
  }

  /**
   * How much closer to the cluster mean the two nodes a move touches get, in fractions of a node
   * (weighted over the metrics). Unlike the change of the cluster score, this does not shrink as
   * the cluster grows, so one minimum improvement per move means the same on 3 nodes or 1,000.
   */
  localGain(vps: string | VpsState, target: number): number {
    const v = this.st(vps);
    const src = this.nodes[v.node]!;
    const dst = this.nodes[target]!;
    let g = 0;
    for (const m of METRICS) {
      const mean = this.mean(m);
      const amount = m === "cpu" ? v.vps.cpuUsed : v.vps.memoryBytes;
      if (amount === 0) continue;
      if (src.active) {
        const b = this.util(src.index, m);
        const a = b - amount / (m === "cpu" ? src.load.cpus : src.load.memoryBytes || 1);
        g += SCORE.weights[m] * (Math.abs(b - mean) - Math.abs(a - mean));
      }
      if (dst.active) {
        const b = this.util(dst.index, m);
        const a = b + amount / (m === "cpu" ? dst.load.cpus : dst.load.memoryBytes || 1);
        g += SCORE.weights[m] * (Math.abs(b - mean) - Math.abs(a - mean));
      }
    }
    return g;
  }

  /** Above the mean on some metric: only VPSes of such nodes can gain anything by moving. */
  aboveMean(node: number): boolean {
    for (const m of METRICS) if (this.util(node, m) > this.mean(m) + 1e-12) return true;
    return false;
  }

  /**
   * Pack imbalance: the share of the active nodes in use beyond the fewest that could hold the
   * load at `maxUtil` (0 when no further node can be freed, on capacity alone).
   */
  packScore(maxUtil: number): number {
    if (this.activeCount === 0) return 0;
    const active = this.nodes.filter((n) => n.active);
    const used = active.filter((n) => n.vpsIds.size > 0).length;
    let needed = 0;
    const demand = {
      cpu: active.reduce((a, n) => a + n.cpuUsed, 0),
      memory: active.reduce((a, n) => a + n.load.reserved.memoryBytes, 0),
    };
    for (const m of METRICS) {
      const caps = active.map((n) => (m === "cpu" ? n.load.cpus : n.load.memoryBytes)).sort((a, b) => b - a);
      let k = 0;
      let room = 0;
      while (room < demand[m] - 1e-9 && k < caps.length) room += caps[k++]! * maxUtil;
      needed = Math.max(needed, k);
    }
    return Math.max(0, used - Math.max(needed, used > 0 ? 1 : 0)) / this.activeCount;
  }

  /** Why `target` cannot take the VPS now (capacity, health, maintenance, strict group rules). */
  refusal(vps: string | VpsState, target: number): string | null {
    const v = this.st(vps);
    const n = this.nodes[target]!;
    if (v.node === target) return "already there";
    for (const f of TARGET_FILTERS) {
      const why = f(n.load, v.request, this.policy);
      if (why) return why;
    }
    const g = v.group;
    if (g?.strict) {
      const here = this.membersOn(g.id, target);
      if (g.policy === "anti_affinity" && here > 0) return "anti-affinity: a group member is there";
      // Strict affinity: never spread the group over more nodes than it is on now.
      if (g.policy === "affinity" && here === 0 && this.membersOn(g.id, v.node) > 1)
        return "affinity: the group is elsewhere";
    }
    return null;
  }

  /** Would the node stay within `maxUtil` of its memory and CPU with the VPS added? */
  fitsUnder(vpsId: string, target: number, maxUtil: number): boolean {
    const v = this.vpses.get(vpsId)!;
    const n = this.nodes[target]!;
    const mem = (n.load.reserved.memoryBytes + v.vps.memoryBytes) / n.load.memoryBytes;
    const cpu = n.load.cpus > 0 ? (n.cpuUsed + v.vps.cpuUsed) / n.load.cpus : 0;
    return mem <= maxUtil + 1e-9 && cpu <= maxUtil + 1e-9;
  }

  membersOn(groupId: string, node: number): number {
    return this.members.get(groupId)?.get(node) ?? 0;
  }

  /** Placement-group penalty: violations weighted by strictness (see SCORE). */
  penalty(): number {
    let p = 0;
    for (const [groupId, perNode] of this.members) {
      const g = this.model.groups.find((x) => x.id === groupId);
      if (!g) continue;
      p += this.violations(g, perNode) * (g.strict ? SCORE.strictViolation : SCORE.softViolation);
    }
    return p;
  }

  private violations(g: BalancerGroup, perNode: Map<number, number>): number {
    if (g.policy === "anti_affinity") {
      let extra = 0;
      for (const c of perNode.values()) extra += Math.max(0, c - 1);
      return extra;
    }
    let nodes = 0;
    for (const c of perNode.values()) if (c > 0) nodes++;
    return Math.max(0, nodes - 1);
  }

  /** Change of the group penalty if the VPS moved to `target` (O(1)). */
  penaltyDelta(vps: string | VpsState, target: number): number {
    const v = this.st(vps);
    const g = v.group;
    if (!g) return 0;
    const from = this.membersOn(g.id, v.node);
    const to = this.membersOn(g.id, target);
    let delta: number;
    if (g.policy === "anti_affinity") {
      // Leaving a crowded node removes a violation; joining an occupied one adds one.
      delta = (to >= 1 ? 1 : 0) - (from >= 2 ? 1 : 0);
    } else {
      // Affinity counts nodes used: the source may empty (−1), the target may be new (+1).
      delta = (to === 0 ? 1 : 0) - (from === 1 ? 1 : 0);
    }
    return delta * (g.strict ? SCORE.strictViolation : SCORE.softViolation);
  }

  /**
   * Estimated migration time of the VPS to `target`: its RAM, and its disk unless the target
   * mounts the shared storage the disk is on (then only ownership moves), inflated by re-sending
   * dirtied pages. Without a target, the disk counts.
   */
  migrationSeconds(vps: string | VpsState, target?: number): number {
    const v = this.st(vps).vps;
    const dirtyBps = v.dirtyPagesPerSec * SCORE.pageBytes;
    // Pre-copy rounds send about bytes × (1 + ρ + ρ² + …) when the guest dirties at ρ × link.
    const rho = Math.min(0.9, dirtyBps / SCORE.linkBytesPerSec);
    const store = target === undefined ? null : this.nodes[target]!.storageId;
    const inPlace = store !== null && store === (v.diskStorageId ?? null);
    return (v.memoryBytes + (inPlace ? 0 : v.diskBytes)) / (1 - rho) / SCORE.linkBytesPerSec;
  }

  moveCost(vps: string | VpsState, target?: number): number {
    return this.migrationSeconds(vps, target) * SCORE.costPerSecond;
  }

  /** Applies a move to the model. */
  move(vpsId: string, target: number): void {
    const v = this.vpses.get(vpsId)!;
    const touched = [v.node, target];
    const before = touched.map((i) => METRICS.map((m) => this.util(i, m)));
    this.remove(v, v.node);
    this.add(v, target);
    v.node = target;
    touched.forEach((i, k) => {
      if (!this.nodes[i]!.active) return;
      METRICS.forEach((m, j) => {
        const was = before[k]![j]!;
        const now = this.util(i, m);
        this.sum[m] += now - was;
        this.sumSq[m] += now * now - was * was;
      });
    });
  }

  private add(v: VpsState, node: number): void {
    this.shift(v, node, 1);
  }

  private remove(v: VpsState, node: number): void {
    this.shift(v, node, -1);
  }

  private shift(v: VpsState, node: number, sign: 1 | -1): void {
    const n = this.nodes[node]!;
    // The workspace's own copy: updated in place (moves are the planner's inner loop).
    const r = n.reserved;
    r.vpsCount += sign;
    r.vcpus += sign * v.vps.vcpus;
    r.cpuShare += sign * v.vps.cpuShare;
    r.memoryBytes += sign * v.vps.memoryBytes;
    r.diskBytes += sign * v.vps.diskBytes;
    n.cpuUsed += sign * v.vps.cpuUsed;
    n.dirtyPagesPerSec += sign * v.vps.dirtyPagesPerSec;
    if (sign > 0) n.vpsIds.add(v.vps.id);
    else n.vpsIds.delete(v.vps.id);
    if (v.group) {
      let per = this.members.get(v.group.id);
      if (!per) this.members.set(v.group.id, (per = new Map()));
      per.set(node, (per.get(node) ?? 0) + sign);
    }
  }
}
