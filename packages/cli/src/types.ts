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

/**
 * A live migration (issue 8's resource). Field names follow the Prisma model; the API may add
 * more (per-round figures), which --json shows and `migrations get` lists generically.
 */
export interface Migration {
  id: string;
  vpsId: string;
  sourceNodeId?: string | null;
  targetNodeId?: string | null;
  state: string;
  trigger?: string;
  reason?: string | null;
  rounds?: number | unknown[];
  bytesTransferred?: number;
  bytesSent?: number;
  downtimeMs?: number | null;
  totalMs?: number | null;
  error?: string | null;
  createdAt: string;
  startedAt?: string | null;
  finishedAt?: string | null;
}
