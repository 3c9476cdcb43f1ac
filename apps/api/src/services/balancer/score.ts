/** The cluster's score per node and overall, as the balancer and its API report it. */
import type { PlacementPolicy } from "../../domain/placement.js";
import { type BalancerSettings, type ClusterModel, SCORE } from "./model.js";
import { Workspace } from "./workspace.js";

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
