/**
 * The balancer's view of the cluster: nodes, the VPSes on them with their measured load, the
 * placement groups, and the migrations already under way. Plain data, so the planner is a pure
 * function of it (the job builds it from PostgreSQL and Redis; tests and the benchmark build it
 * by hand).
 */
import type { PlacementMode } from "../../domain/placement.js";

export type BalancerMode = PlacementMode;

export interface BalancerNode {
  readonly id: string;
  readonly name: string;
  readonly status: "ready" | "unreachable" | "fenced";
  readonly maintenance: boolean;
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
  /** The shared storage the node mounts (absent or null: it keeps disks locally). */
  readonly storageId?: string | null;
}

export interface BalancerVps {
  readonly id: string;
  readonly name: string;
  readonly nodeId: string;
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
  /** The shared storage its disk is on (absent or null: on its node). */
  readonly diskStorageId?: string | null;
  /** Reserved CPU weight (plan's cpuShare; 100 = one host CPU). */
  readonly cpuShare: number;
  /** Measured CPU use, in host cores (the VMM's busy share of a core, summed over vCPUs). */
  readonly cpuUsed: number;
  /** Measured guest pages dirtied per second: what makes its migration long. */
  readonly dirtyPagesPerSec: number;
  readonly groupId: string | null;
  /** Only a running (or paused) VPS that no action holds can be live-migrated. */
  readonly movable: boolean;
  /** A stopped or suspended VPS no action holds: a drain moves it cold (the balancer leaves it). */
  readonly coldMovable?: boolean;
  /** Its state and the action holding it, to say why a drain cannot move it. */
  readonly state?: string;
  readonly action?: string | null;
  /** When it last started a migration (ms since epoch), for the per-VPS cooldown. */
  readonly lastMigratedAt: number | null;
}

export interface BalancerGroup {
  readonly id: string;
  readonly policy: "anti_affinity" | "affinity";
  readonly strict: boolean;
}

/** A migration that has not finished: its VPS counts on the target already and cannot move again. */
export interface InFlightMigration {
  readonly vpsId: string;
  readonly sourceNodeId: string;
  readonly targetNodeId: string;
}

export interface ClusterModel {
  readonly nodes: readonly BalancerNode[];
  readonly vpses: readonly BalancerVps[];
  readonly groups: readonly BalancerGroup[];
  readonly inFlight: readonly InFlightMigration[];
}

export interface BalancerSettings {
  readonly enabled: boolean;
  readonly mode: BalancerMode;
  /** Start balancing when the imbalance score exceeds this (0 = perfectly even / packed). */
  readonly threshold: number;
  /**
   * A move must bring the two nodes it touches at least this much closer to the cluster mean
   * (in fractions of a node, after its migration cost and group penalties): 0.005 = half a percent.
   */
  readonly minImprovement: number;
  /**
   * Once started, keep going until the score is below threshold × (1 − hysteresis): a cluster
   * hovering around the threshold does not start and stop every round.
   */
  readonly hysteresis: number;
  /** A VPS that started a migration less than this long ago is not moved again. */
  readonly cooldownMs: number;
  /** Moves started per balancer round. */
  readonly maxMovesPerRound: number;
  /** Migrations in flight cluster-wide (balancer, drain and manual together). */
  readonly maxConcurrent: number;
  /** Migrations in flight touching one node (as source or target). */
  readonly maxConcurrentPerNode: number;
  /** Pack mode fills a node up to this fraction of its memory and CPU, never beyond. */
  readonly packMaxUtilization: number;
}

export const DEFAULT_SETTINGS: BalancerSettings = {
  enabled: false,
  mode: "spread",
  threshold: 0.02,
  minImprovement: 0.005,
  hysteresis: 0.5,
  cooldownMs: 10 * 60_000,
  maxMovesPerRound: 4,
  maxConcurrent: 4,
  maxConcurrentPerNode: 2,
  packMaxUtilization: 0.85,
};

/**
 * Constants of the score (not settings: changing them changes what the numbers mean).
 * CPU and memory weigh equally; a migration's cost is its estimated seconds on the link.
 */
export const SCORE = {
  weights: { cpu: 0.5, memory: 0.5 },
  /** Guest page size (Sv32): dirty rates are counted in these. */
  pageBytes: 4096,
  /** Assumed migration link throughput (the migration benchmark's first target). */
  linkBytesPerSec: 250e6,
  /** Cost per estimated second of migration, in fractions of a node: a tie-breaker and a guard. */
  costPerSecond: 0.001,
  /** Penalty per placement-group violation, in fractions of a node (a soft rule is broken only for more). */
  softViolation: 0.1,
  strictViolation: 1,
} as const;
