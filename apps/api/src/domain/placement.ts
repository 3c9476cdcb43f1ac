/**
 * Placement: which node gets a VPS. Pure and synchronous, so the worker can run it inside the
 * transaction that reserves the capacity, and the benchmark can run it over thousands of nodes.
 * First filters (a node failing any is out, with the reason recorded), then weighers (a score
 * per surviving node; the highest wins, ties broken by name so decisions are reproducible).
 */

export type PlacementMode = "spread" | "pack";

export interface NodeLoad {
  readonly id: string;
  readonly name: string;
  readonly status: "ready" | "unreachable" | "fenced";
  readonly maintenance: boolean;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
  /** What the VPSes placed on the node reserve (from the Vps rows: the source of truth). */
  readonly reserved: {
    readonly vpsCount: number;
    readonly vcpus: number;
    readonly cpuShare: number;
    readonly memoryBytes: number;
    readonly diskBytes: number;
  };
  /** Members of the request's placement group already on this node. */
  readonly groupMembers: number;
}

export interface PlacementRequest {
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
  readonly cpuShare: number;
  readonly group?: {
    readonly policy: "anti_affinity" | "affinity";
    readonly strict: boolean;
    /** Members placed anywhere (affinity: the first member may go anywhere). */
    readonly placedMembers: number;
  };
  /** Operators may pin a VPS to a node. */
  readonly nodeId?: string;
  /** Nodes not to use (e.g. the source of a migration). */
  readonly excludeNodeIds?: readonly string[];
}

export interface PlacementPolicy {
  readonly mode: PlacementMode;
  /** cpuShare units per host CPU: 100 × this ratio (guest vCPUs are mostly idle). */
  readonly cpuOvercommit: number;
}

export const DEFAULT_POLICY: PlacementPolicy = { mode: "spread", cpuOvercommit: 4 };

export type PlacementDecision =
  | { readonly ok: true; readonly nodeId: string; readonly score: number; readonly candidates: number }
  | { readonly ok: false; readonly rejected: Readonly<Record<string, string>>; readonly summary: string };

type Filter = (n: NodeLoad, r: PlacementRequest, p: PlacementPolicy) => string | null;

const cpuUnits = (n: NodeLoad, p: PlacementPolicy) => n.cpus * 100 * p.cpuOvercommit;

/** Capacity as built, ignoring what is reserved: could this node hold the VPS if it were empty? */
export function couldEverFit(n: NodeLoad, r: PlacementRequest, p: PlacementPolicy): boolean {
  return (
    r.vcpus <= n.cpus &&
    r.memoryBytes <= n.memoryBytes &&
    r.diskBytes <= n.diskBytes &&
    r.cpuShare <= cpuUnits(n, p)
  );
}

export const FILTERS: readonly (readonly [string, Filter])[] = [
  ["pinned", (n, r) => (r.nodeId && r.nodeId !== n.id ? "not the requested node" : null)],
  ["excluded", (n, r) => (r.excludeNodeIds?.includes(n.id) ? "excluded" : null)],
  ["health", (n) => (n.status === "ready" ? null : `node is ${n.status}`)],
  ["maintenance", (n) => (n.maintenance ? "node is in maintenance" : null)],
  [
    "capacity",
    (n, r, p) => {
      if (r.vcpus > n.cpus) return `needs ${r.vcpus} vCPUs, node has ${n.cpus} CPUs`;
      if (n.reserved.memoryBytes + r.memoryBytes > n.memoryBytes) return "not enough free memory";
      if (n.reserved.diskBytes + r.diskBytes > n.diskBytes) return "not enough free disk";
      if (n.reserved.cpuShare + r.cpuShare > cpuUnits(n, p)) return "not enough free CPU share";
      return null;
    },
  ],
  [
    "placement-group",
    (n, r) => {
      const g = r.group;
      if (!g?.strict) return null;
      if (g.policy === "anti_affinity" && n.groupMembers > 0) return "anti-affinity: a group member is here";
      if (g.policy === "affinity" && g.placedMembers > 0 && n.groupMembers === 0)
        return "affinity: the group is elsewhere";
      return null;
    },
  ],
];

/** Free fraction after placing the request: memory and CPU weigh equally. */
function freeAfter(n: NodeLoad, r: PlacementRequest, p: PlacementPolicy): number {
  const mem = 1 - (n.reserved.memoryBytes + r.memoryBytes) / n.memoryBytes;
  const cpu = 1 - (n.reserved.cpuShare + r.cpuShare) / cpuUnits(n, p);
  return (mem + cpu) / 2;
}

function weigh(n: NodeLoad, r: PlacementRequest, p: PlacementPolicy): number {
  const free = freeAfter(n, r, p);
  let score = p.mode === "spread" ? free : 1 - free;
  const g = r.group;
  if (g && !g.strict) {
    // Soft rules outweigh load: a full unit per member beats any load difference (0..1).
    score += g.policy === "anti_affinity" ? -n.groupMembers : Math.min(n.groupMembers, 1);
  }
  return score;
}

export function place(
  nodes: readonly NodeLoad[],
  req: PlacementRequest,
  policy: PlacementPolicy = DEFAULT_POLICY,
): PlacementDecision {
  const rejected: Record<string, string> = {};
  let best: NodeLoad | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  let candidates = 0;
  for (const n of nodes) {
    let reason: string | null = null;
    for (const [, f] of FILTERS) {
      reason = f(n, req, policy);
      if (reason) break;
    }
    if (reason) {
      rejected[n.name] = reason;
      continue;
    }
    candidates++;
    const s = weigh(n, req, policy);
    if (s > bestScore || (s === bestScore && best && n.name < best.name)) {
      best = n;
      bestScore = s;
    }
  }
  if (!best) {
    const summary =
      nodes.length === 0
        ? "no nodes are registered"
        : `no node can take it now (${Object.entries(rejected)
            .slice(0, 5)
            .map(([k, v]) => `${k}: ${v}`)
            .join("; ")}${nodes.length > 5 ? "; ..." : ""})`;
    return { ok: false, rejected, summary };
  }
  return { ok: true, nodeId: best.id, score: bestScore, candidates };
}
