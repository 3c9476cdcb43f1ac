/**
 * The API's objects as the CLI reads them (see /openapi.json). Only what the CLI shows is typed;
 * --json prints whatever the API sent, including fields added later.
 */

export interface Vps {
  id: string;
  projectId: string;
  name: string;
  state: string;
  stateReason: string | null;
  action: string | null;
  planId: string;
  imageId: string;
  nodeId: string | null;
  placementGroupId: string | null;
  epoch: number;
  vcpus: number;
  memoryBytes: number;
  diskBytes: number;
  cpuShare: number;
  createdAt: string;
  updatedAt: string;
}

export interface NodeInfo {
  id: string;
  name: string;
  grpcAddress: string;
  status: string;
  maintenance: boolean;
  labels: Record<string, string>;
  agentVersion: string;
  capacity: { cpus: number; memoryBytes: number; diskBytes: number };
  reserved: { vpsCount: number; vcpus: number; cpuShare: number; memoryBytes: number; diskBytes: number };
  usage: { cpuPercent: number; memoryUsedBytes: number; vmCount: number };
  lastHeartbeatAt: string | null;
  registeredAt: string;
}

export interface Plan {
  id: string;
  name: string;
  vcpus: number;
  memoryBytes: number;
  diskBytes: number;
  cpuShare: number;
  createdAt: string;
}

export interface Image {
  id: string;
  name: string;
  arch: string;
  bootMode: string;
  kernelPath: string;
  initrdPath: string | null;
  rootfsPath: string | null;
  kernelArgs: string;
  isDefault: boolean;
  projectId: string | null;
  createdAt: string;
}

export interface SkiffEvent {
  id: string;
  at: string;
  projectId: string | null;
  actorType: string;
  actorId: string | null;
  resourceType: string;
  resourceId: string;
  type: string;
  fromState: string | null;
  toState: string | null;
  message: string;
  details: Record<string, unknown>;
}

export interface Token {
  id: string;
  name: string;
  prefix: string;
  scope: string;
  projectId: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  /** Only in the answer to a create: the secret, shown once. */
  token?: string;
}

/** One pre-copy round as the source agent reported it (proto MigrationRound). */
export interface MigrationRound {
  round: number;
  phase: string;
  pages: number;
  zeroPages: number;
  blocks: number;
  bytes: number;
  ms: number;
  dirtyPagesPerSec: number;
  throttlePercent: number;
  bandwidthBytesPerSec?: number;
}

/** A live migration (issue 8): GET /v1/migrations/:id. */
export interface Migration {
  id: string;
  vpsId: string;
  sourceNodeId: string;
  targetNodeId: string;
  /** queued, preparing, precopy, stopcopy, committing, completed, rolled-back, failed */
  state: string;
  trigger: string;
  reason: string | null;
  options?: Record<string, unknown>;
  rounds: MigrationRound[];
  bytesSent: number;
  downtimeMs: number | null;
  totalMs: number | null;
  throughputBytesPerSec?: number | null;
  maxThrottlePercent?: number | null;
  errorCode: string | null;
  error: string | null;
  cancelRequestedAt?: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** GET/PUT /v1/balancer. */
export interface BalancerView {
  settings: {
    enabled: boolean;
    mode: "spread" | "pack";
    threshold: number;
    minImprovement: number;
    hysteresis: number;
    cooldownSeconds: number;
    maxMovesPerRound: number;
    maxConcurrent: number;
    maxConcurrentPerNode: number;
    packMaxUtilization: number;
  };
  state: { balancing: boolean; lastRunAt: string | null; lastScore: number | null };
  score: {
    mode: string;
    current: number;
    spread: number;
    pack: number;
    penalty: number;
    threshold: number;
    floor: number;
  };
  nodes: {
    nodeId: string;
    name: string;
    status: string;
    maintenance: boolean;
    active: boolean;
    vpsCount: number;
    cpu: number;
    memory: number;
    dirtyPagesPerSec: number;
    deviation: number;
  }[];
}

export interface BalancerMove {
  vpsId: string;
  vpsName: string;
  fromNodeId: string;
  fromNode: string;
  toNodeId: string;
  toNode: string;
  scoreBefore: number;
  scoreAfter: number;
  gain: number;
  estimatedSeconds: number;
  reason: string;
}

export interface BalancerStuck {
  vpsId: string;
  vpsName: string;
  nodeId: string;
  reason: string;
}

export interface BalancerPlan {
  mode: string;
  threshold: number;
  floor: number;
  scoreBefore: number;
  scoreAfter: number;
  penaltyBefore: number;
  penaltyAfter: number;
  moves: BalancerMove[];
  outcome: string;
  balancing: boolean;
  skipped: Record<string, number>;
}

/** POST /v1/balancer/plan. */
export interface DryRun {
  settings: BalancerView["settings"];
  plan: BalancerPlan;
  nextRound: BalancerPlan;
  drain: { moves: BalancerMove[]; waiting: BalancerStuck[]; blocked: BalancerStuck[] };
}

/** GET /v1/nodes/:id/drain. */
export interface DrainProgress {
  nodeId: string;
  name: string;
  maintenance: boolean;
  done: boolean;
  remaining: number;
  migrating: number;
  completed: number;
  failed: number;
  next: BalancerMove[];
  waiting: BalancerStuck[];
  blocked: BalancerStuck[];
}
