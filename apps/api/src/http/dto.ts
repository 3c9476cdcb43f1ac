import type { z } from "zod";
import type {
  ApiToken,
  Event,
  Image,
  Migration,
  Network,
  Node,
  PlacementGroup,
  Plan,
  Project,
  Vps as VpsRow,
} from "../db/client.js";
import { migrationStateName } from "../domain/migration-state.js";
import type { NodeLoad } from "../domain/placement.js";
import type {
  EventSchema,
  ImageSchema,
  MigrationSchema,
  NetworkSchema,
  NodeSchema,
  PlacementGroupSchema,
  PlanSchema,
  ProjectSchema,
  TokenSchema,
  Vps,
} from "./schemas.js";

/** Database rows → API objects: BigInt → number (sizes stay far below 2^53), Date → ISO string. */

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

/** The columns vpsDto reads (what a list selects). */
export type VpsDtoRow = Pick<
  VpsRow,
  | "id"
  | "projectId"
  | "name"
  | "state"
  | "stateReason"
  | "action"
  | "planId"
  | "imageId"
  | "nodeId"
  | "placementGroupId"
  | "epoch"
  | "vcpus"
  | "memoryBytes"
  | "diskBytes"
  | "cpuShare"
  | "ipv4"
  | "mac"
  | "networkId"
  | "authorizedKeys"
  | "createdAt"
  | "updatedAt"
>;

export function vpsDto(v: VpsDtoRow): z.infer<typeof Vps> {
  return {
    id: v.id,
    projectId: v.projectId,
    name: v.name,
    state: v.state,
    stateReason: v.stateReason,
    action: v.action,
    planId: v.planId,
    imageId: v.imageId,
    nodeId: v.nodeId,
    placementGroupId: v.placementGroupId,
    epoch: v.epoch,
    vcpus: v.vcpus,
    memoryBytes: Number(v.memoryBytes),
    diskBytes: Number(v.diskBytes),
    cpuShare: v.cpuShare,
    ipv4: v.ipv4,
    mac: v.mac,
    networkId: v.networkId,
    sshKeys: v.authorizedKeys.split("\n").filter((line) => line !== ""),
    createdAt: iso(v.createdAt),
    updatedAt: iso(v.updatedAt),
  };
}

export function networkDto(n: Network, mtu: number): z.infer<typeof NetworkSchema> {
  return {
    id: n.id,
    projectId: n.projectId,
    name: n.name,
    vni: n.vni,
    cidr: n.cidr,
    gateway: { ipv4: n.gatewayIpv4, mac: n.gatewayMac },
    mtu,
    createdAt: iso(n.createdAt),
  };
}

/** The columns nodeDto reads (what a list selects). */
export type NodeDtoRow = Pick<
  Node,
  | "id"
  | "name"
  | "grpcAddress"
  | "status"
  | "maintenance"
  | "labels"
  | "storageBackend"
  | "storageId"
  | "agentVersion"
  | "overlayHost"
  | "overlayPort"
  | "networkMapVersion"
  | "cpus"
  | "memoryBytes"
  | "diskBytes"
  | "cpuPercent"
  | "memoryUsedBytes"
  | "vmCount"
  | "lastHeartbeatAt"
  | "registeredAt"
>;

export function nodeDto(n: NodeDtoRow, reserved: NodeLoad["reserved"]): z.infer<typeof NodeSchema> {
  return {
    id: n.id,
    name: n.name,
    grpcAddress: n.grpcAddress,
    status: n.status,
    maintenance: n.maintenance,
    labels: (n.labels ?? {}) as Record<string, string>,
    storage: { backend: n.storageBackend, id: n.storageId ?? "" },
    agentVersion: n.agentVersion,
    overlayEndpoint: n.overlayHost && n.overlayPort ? `${n.overlayHost}:${n.overlayPort}` : null,
    networkMapVersion: Number(n.networkMapVersion),
    capacity: { cpus: n.cpus, memoryBytes: Number(n.memoryBytes), diskBytes: Number(n.diskBytes) },
    reserved,
    usage: { cpuPercent: n.cpuPercent, memoryUsedBytes: Number(n.memoryUsedBytes), vmCount: n.vmCount },
    lastHeartbeatAt: isoOrNull(n.lastHeartbeatAt),
    registeredAt: iso(n.registeredAt),
  };
}

export function planDto(p: Plan): z.infer<typeof PlanSchema> {
  return {
    id: p.id,
    name: p.name,
    vcpus: p.vcpus,
    memoryBytes: Number(p.memoryBytes),
    diskBytes: Number(p.diskBytes),
    cpuShare: p.cpuShare,
    createdAt: iso(p.createdAt),
  };
}

export function imageDto(i: Image): z.infer<typeof ImageSchema> {
  return {
    id: i.id,
    name: i.name,
    arch: i.arch,
    bootMode: i.bootMode,
    kernelPath: i.kernelPath,
    initrdPath: i.initrdPath,
    rootfsPath: i.rootfsPath,
    kernelArgs: i.kernelArgs,
    isDefault: i.isDefault,
    projectId: i.projectId,
    createdAt: iso(i.createdAt),
  };
}

export function eventDto(e: Event): z.infer<typeof EventSchema> {
  return {
    id: e.id.toString(),
    at: iso(e.at),
    projectId: e.projectId,
    actorType: e.actorType,
    actorId: e.actorId,
    resourceType: e.resourceType,
    resourceId: e.resourceId,
    type: e.type,
    fromState: e.fromState,
    toState: e.toState,
    message: e.message,
    details: (e.details ?? {}) as Record<string, unknown>,
  };
}

export function tokenDto(t: ApiToken): z.infer<typeof TokenSchema> {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    scope: t.scope,
    projectId: t.projectId,
    createdAt: iso(t.createdAt),
    lastUsedAt: isoOrNull(t.lastUsedAt),
    expiresAt: isoOrNull(t.expiresAt),
    revokedAt: isoOrNull(t.revokedAt),
  };
}

export function projectDto(p: Project): z.infer<typeof ProjectSchema> {
  return {
    id: p.id,
    name: p.name,
    quotas: {
      maxVps: p.maxVps,
      maxVcpus: p.maxVcpus,
      maxMemoryBytes: Number(p.maxMemoryBytes),
      maxSnapshots: p.maxSnapshots,
    },
    createdAt: iso(p.createdAt),
  };
}

export function placementGroupDto(g: PlacementGroup): z.infer<typeof PlacementGroupSchema> {
  return {
    id: g.id,
    projectId: g.projectId,
    name: g.name,
    policy: g.policy,
    strict: g.strict,
    createdAt: iso(g.createdAt),
  };
}

export function migrationDto(m: Migration): z.infer<typeof MigrationSchema> {
  return {
    id: m.id,
    vpsId: m.vpsId,
    sourceNodeId: m.sourceNodeId,
    targetNodeId: m.targetNodeId,
    state: migrationStateName(m.state),
    kind: m.kind === "cold" ? "cold" : "live",
    trigger: m.trigger,
    reason: m.reason,
    sourceEpoch: m.sourceEpoch,
    targetEpoch: m.targetEpoch,
    options: {
      maxDowntimeMs: m.maxDowntimeMs,
      bandwidthBytesPerSec: m.bandwidthBytesPerSec === null ? null : Number(m.bandwidthBytesPerSec),
      maxRounds: m.maxRounds,
      timeoutMs: m.timeoutMs,
    },
    rounds: Array.isArray(m.rounds) ? (m.rounds as Record<string, unknown>[]) : [],
    bytesSent: Number(m.bytesSent),
    downtimeMs: m.downtimeMs,
    totalMs: m.totalMs,
    throughputBytesPerSec: m.throughputBytesPerSec,
    maxThrottlePercent: m.maxThrottlePercent,
    errorCode: m.errorCode,
    error: m.error,
    cancelRequestedAt: isoOrNull(m.cancelRequestedAt),
    createdAt: iso(m.createdAt),
    startedAt: isoOrNull(m.startedAt),
    finishedAt: isoOrNull(m.finishedAt),
  };
}
