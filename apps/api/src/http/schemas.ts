import { VM_STATE_NAMES } from "@skiff/proto";
import { z } from "zod";
import { MIGRATION_STATE_NAMES } from "../domain/migration-state.js";
import { VPS_ACTIONS, VPS_STATES } from "../domain/vps-state.js";

/**
 * Request and response shapes of the REST API, in zod: the same objects validate requests,
 * serialize responses and describe the OpenAPI document (named ones become components).
 */

const isoDate = z.iso.datetime({ offset: true });
const id = z.uuid();
/** Names people type: lowercase DNS labels, so they also work as hostnames. */
export const ResourceName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "lowercase letters, digits and '-', 1-63 characters");

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().describe("stable machine-readable code"),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: "Error" });

export const IdParams = z.object({ id });

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).max(512).optional().describe("nextCursor of the previous page"),
});

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextCursor: z.string().nullable().describe("pass as ?cursor= for the next page; null on the last page"),
  });
}

export const VpsStateSchema = z.enum(VPS_STATES).meta({ id: "VpsState" });
export const VpsActionSchema = z.enum(VPS_ACTIONS);

export const Vps = z
  .object({
    id,
    projectId: id,
    name: z.string(),
    state: VpsStateSchema,
    stateReason: z.string().nullable(),
    action: z.string().nullable().describe("the action in flight; other actions get 409 until it ends"),
    planId: id,
    imageId: id,
    nodeId: id.nullable(),
    placementGroupId: id.nullable(),
    epoch: z.number().int(),
    vcpus: z.number().int(),
    memoryBytes: z.number().int(),
    diskBytes: z.number().int(),
    cpuShare: z.number().int(),
    ipv4: z
      .string()
      .nullable()
      .describe(
        "its address in the project's network, kept across restarts and migrations; null until placed",
      ),
    mac: z.string().nullable().describe("its NIC's MAC address; null until placed"),
    networkId: id.nullable(),
    sshKeys: z
      .array(z.string())
      .describe("the OpenSSH public keys it was created with: its guest's root authorized_keys"),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: "Vps" });

export const CreateVpsBody = z
  .object({
    name: ResourceName,
    plan: z.string().min(1).max(100).describe("plan id or name"),
    image: z.string().min(1).max(100).optional().describe("image id or name (default: the default image)"),
    placementGroup: z.string().min(1).max(100).optional().describe("placement group id or name"),
    snapshot: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe(
        "a disk snapshot (id or name) to start from: its VPS's image, its disk content, placed on the node that keeps it",
      ),
    node: z.string().min(1).max(100).optional().describe("operators only: node id or name to place on"),
    projectId: id.optional().describe("operators only: the project (default: the project named 'default')"),
    sshKeys: z
      .array(z.string().min(1).max(100))
      .max(16)
      .optional()
      .describe(
        "the project's SSH keys (ids or names) root may log in with; the guest fetches them from the metadata service at boot",
      ),
  })
  .strict();

export const SshKeySchema = z
  .object({
    id,
    projectId: id,
    name: z.string(),
    publicKey: z.string().describe("one line: type, base64 and comment, as ssh-keygen writes it"),
    fingerprint: z.string().describe("SHA256:<base64>, as `ssh-keygen -l` shows it"),
    createdAt: isoDate,
  })
  .meta({ id: "SshKey" });

export const CreateSshKeyBody = z
  .object({
    name: ResourceName,
    publicKey: z
      .string()
      .min(1)
      .max(8192)
      .describe(
        "an OpenSSH public key (the .pub file): ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of 2048 bits or more, or their sk- variants",
      ),
    projectId: id.optional().describe("operators only: the project (default: the project named 'default')"),
  })
  .strict();

export const ListVpsQuery = PageQuery.extend({
  state: VpsStateSchema.optional(),
  nodeId: id.optional(),
  projectId: id.optional(),
  name: z.string().max(100).optional(),
  includeDeleted: z
    .enum(["true", "false"])
    .optional()
    .transform((v) => v === "true"),
});

export const ActionParams = z.object({ id, action: VpsActionSchema });

const NodeStorage = z.object({
  backend: z.enum(["local", "shared"]),
  /** The shared storage's identity; "" for local. */
  id: z.string().max(100),
});

export const NodeSchema = z
  .object({
    id,
    name: z.string(),
    grpcAddress: z.string(),
    status: z.enum(["ready", "unreachable", "fenced"]),
    maintenance: z.boolean(),
    labels: z.record(z.string(), z.string()),
    storage: NodeStorage.describe(
      "where the node keeps VM disks: local (its own disk) or shared (storage every node with the same id mounts)",
    ),
    agentVersion: z.string(),
    overlayEndpoint: z
      .string()
      .nullable()
      .describe("where its switch receives the overlay (host:port); null without networking"),
    networkMapVersion: z
      .number()
      .int()
      .describe("the network map version its switch last reported or acknowledged"),
    capacity: z.object({
      cpus: z.number().int(),
      memoryBytes: z.number().int(),
      diskBytes: z.number().int(),
    }),
    reserved: z.object({
      vpsCount: z.number().int(),
      vcpus: z.number().int(),
      cpuShare: z.number().int(),
      memoryBytes: z.number().int(),
      diskBytes: z.number().int(),
    }),
    usage: z.object({ cpuPercent: z.number(), memoryUsedBytes: z.number().int(), vmCount: z.number().int() }),
    lastHeartbeatAt: isoDate.nullable(),
    registeredAt: isoDate,
  })
  .meta({ id: "Node" });

const VmReport = z.object({
  vmId: z.string().min(1).max(100),
  epoch: z.number().int().min(0),
  state: z.enum(VM_STATE_NAMES),
  memoryBytes: z.number().int().min(0),
  cpuShare: z.number().min(0).optional(),
  dirtyPagesPerSec: z.number().min(0).optional(),
});
export type VmReport = z.infer<typeof VmReport>;

export const RegisterNodeBody = z.object({
  name: ResourceName,
  grpcAddress: z.string().regex(/^[^\s:]+:\d{1,5}$/, "host:port"),
  capacity: z.object({
    cpus: z.number().int().min(1).max(4096),
    memoryBytes: z.number().int().min(1),
    diskBytes: z.number().int().min(0),
  }),
  labels: z.record(z.string().max(100), z.string().max(200)).default({}),
  // Agents before shared storage existed send none: their disks are local.
  storage: NodeStorage.refine((s) => (s.backend === "shared") === (s.id !== ""), {
    message: "shared storage has an id, local storage none",
  }).default({ backend: "local", id: "" }),
  agentVersion: z.string().max(100).default(""),
  vms: z.array(VmReport).max(10_000).default([]),
  // Agents without networking send none.
  overlayEndpoint: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, "host:port")
    .optional()
    .describe("where the node's switch receives the overlay's VXLAN datagrams"),
});

/** The API's clock when it answered an agent; the agent's next heartbeat sends it back. */
const serverTimeMs = z
  .number()
  .int()
  .describe("the API's clock (ms since the epoch) when it answered: send it back as capturedAfterMs");

export const RegisterNodeResponse = z.object({
  nodeId: id,
  heartbeatIntervalMs: z.number().int(),
  serverTimeMs,
});

export const HeartbeatResponse = z.object({ ok: z.literal(true), serverTimeMs });

export const HeartbeatBody = z.object({
  usage: z.object({
    cpuPercent: z.number().min(0).max(100_000),
    memoryUsedBytes: z.number().int().min(0),
    vmCount: z.number().int().min(0).max(1_000_000),
  }),
  vms: z.array(VmReport).max(10_000).default([]),
  networkMapVersion: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      "the network map version the node's switch holds; an older one than the region's is sent again",
    ),
  tlsRefusals: z
    .record(z.string().max(40), z.number().int().min(0))
    .optional()
    .describe("TLS peers the agent refused since it started, by reason (wrong-ca, expired, ...)"),
  capturedAfterMs: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      "serverTimeMs of the API's previous answer to this agent: the report was taken after it, and says nothing of VPSes changed since",
    ),
});

export const ListNodesQuery = PageQuery.extend({
  status: z.enum(["ready", "unreachable", "fenced"]).optional(),
  maintenance: z
    .enum(["true", "false"])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === "true")),
});

export const PlanSchema = z
  .object({
    id,
    name: z.string(),
    vcpus: z.number().int(),
    memoryBytes: z.number().int(),
    diskBytes: z.number().int(),
    cpuShare: z.number().int(),
    createdAt: isoDate,
  })
  .meta({ id: "Plan" });

export const CreatePlanBody = z
  .object({
    name: ResourceName,
    vcpus: z.number().int().min(1).max(64),
    memoryBytes: z
      .number()
      .int()
      .min(1 << 20),
    diskBytes: z.number().int().min(0),
    cpuShare: z.number().int().min(1).max(100_000).default(100),
  })
  .strict();

export const ImageSchema = z
  .object({
    id,
    name: z.string(),
    arch: z.string(),
    bootMode: z.enum(["linux", "firmware"]),
    kernelPath: z.string(),
    initrdPath: z.string().nullable(),
    rootfsPath: z.string().nullable(),
    kernelArgs: z.string(),
    isDefault: z.boolean(),
    projectId: id.nullable(),
    createdAt: isoDate,
  })
  .meta({ id: "Image" });

const repoPath = z
  .string()
  .min(1)
  .max(1000)
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'");

export const CreateImageBody = z
  .object({
    name: ResourceName,
    arch: z.string().max(32).default("riscv32"),
    bootMode: z.enum(["linux", "firmware"]).default("linux"),
    kernelPath: repoPath,
    initrdPath: repoPath.optional(),
    rootfsPath: repoPath.optional(),
    kernelArgs: z.string().max(2000).default(""),
    isDefault: z.boolean().default(false),
  })
  .strict();

export const EventSchema = z
  .object({
    id: z.string().describe("sequence number (a decimal string: it may exceed 2^53)"),
    at: isoDate,
    projectId: id.nullable(),
    actorType: z.string(),
    actorId: z.string().nullable(),
    resourceType: z.string(),
    resourceId: z.string(),
    type: z.string(),
    fromState: z.string().nullable(),
    toState: z.string().nullable(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  })
  .meta({ id: "Event" });

export const ListEventsQuery = PageQuery.extend({
  resourceType: z.string().max(50).optional(),
  resourceId: z.string().max(100).optional(),
  type: z.string().max(100).optional(),
  projectId: id.optional(),
  since: isoDate.optional(),
  afterId: z
    .string()
    .regex(/^\d{1,19}$/)
    .optional()
    .describe("only events after this id (for following)"),
});

export const TokenSchema = z
  .object({
    id,
    name: z.string(),
    prefix: z.string(),
    scope: z.enum(["tenant", "operator"]),
    projectId: id.nullable(),
    createdAt: isoDate,
    lastUsedAt: isoDate.nullable(),
    expiresAt: isoDate.nullable(),
    revokedAt: isoDate.nullable(),
  })
  .meta({ id: "Token" });

export const CreateTokenBody = z
  .object({
    name: z.string().min(1).max(100),
    scope: z.enum(["tenant", "operator"]).default("tenant"),
    projectId: id.optional().describe("tenant tokens: the project (tenants: always their own)"),
    project: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe("the project by id or name, instead of projectId"),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  })
  .strict();

export const WhoAmI = z
  .object({
    kind: z.enum(["operator", "tenant"]),
    tokenId: id,
    tokenName: z.string(),
    projectId: id.nullable(),
    projectName: z.string().nullable(),
    expiresAt: z.string().nullable(),
  })
  .meta({ id: "WhoAmI" });

export const CreatedToken = TokenSchema.extend({ token: z.string().describe("the secret, shown only once") });

export const ProjectSchema = z
  .object({
    id,
    name: z.string(),
    quotas: z.object({
      maxVps: z.number().int(),
      maxVcpus: z.number().int(),
      maxMemoryBytes: z.number().int(),
      maxSnapshots: z.number().int().describe("disk snapshots the project may hold"),
    }),
    createdAt: isoDate,
  })
  .meta({ id: "Project" });

export const CreateProjectBody = z
  .object({
    name: ResourceName,
    quotas: z
      .object({
        maxVps: z.number().int().min(0).max(100_000),
        maxVcpus: z.number().int().min(0).max(1_000_000),
        maxMemoryBytes: z.number().int().min(0),
        maxSnapshots: z.number().int().min(0).max(100_000),
      })
      .partial()
      .default({}),
  })
  .strict();

export const PlacementGroupSchema = z
  .object({
    id,
    projectId: id,
    name: z.string(),
    policy: z.enum(["anti_affinity", "affinity"]),
    strict: z.boolean(),
    createdAt: isoDate,
  })
  .meta({ id: "PlacementGroup" });

export const CreatePlacementGroupBody = z
  .object({
    name: ResourceName,
    policy: z.enum(["anti_affinity", "affinity"]),
    strict: z.boolean().default(true),
    projectId: id.optional().describe("operators only"),
  })
  .strict();

export const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
    .optional()
    .describe("repeat a request safely: the same key and body get the same answer for 24 hours"),
});

/** The error responses every authenticated route may give, for the OpenAPI document. */
export const ERROR_RESPONSES = {
  400: ErrorResponse.describe("invalid request"),
  401: ErrorResponse.describe("missing or invalid token"),
  403: ErrorResponse.describe("the token may not do this"),
  404: ErrorResponse.describe("no such resource (or not yours)"),
  409: ErrorResponse.describe("conflicts with the resource's current state"),
  422: ErrorResponse.describe("well-formed but impossible"),
  429: ErrorResponse.describe("rate limited"),
} as const;

/** Bodies of actions: none, or an empty JSON object. */
export const EmptyBody = z.object({}).strict().nullish();

export const RevokeNodeBody = z
  .object({ reason: z.string().max(500).default("").describe("why, for the event log") })
  .strict()
  .nullish();

export const MigrationStateSchema = z.enum(MIGRATION_STATE_NAMES).meta({ id: "MigrationState" });

export const MigrationSchema = z
  .object({
    id,
    vpsId: id,
    sourceNodeId: id,
    targetNodeId: id,
    state: MigrationStateSchema,
    kind: z
      .enum(["live", "cold"])
      .describe(
        "live: the guest runs on while it moves; cold: a stopped or suspended VPS's disk and state are copied",
      ),
    trigger: z.string().describe("manual, drain, balancer or recovery"),
    reason: z.string().nullable(),
    sourceEpoch: z.number().int(),
    targetEpoch: z.number().int(),
    options: z.object({
      maxDowntimeMs: z.number().int().nullable(),
      bandwidthBytesPerSec: z.number().int().nullable(),
      maxRounds: z.number().int().nullable(),
      timeoutMs: z.number().int().nullable(),
    }),
    rounds: z
      .array(z.record(z.string(), z.unknown()))
      .describe(
        "per pre-copy round: round, phase, pages, zeroPages, bytes, ms, dirtyPagesPerSec, throttlePercent, bandwidthBytesPerSec",
      ),
    bytesSent: z.number().int(),
    downtimeMs: z.number().nullable(),
    totalMs: z.number().nullable(),
    throughputBytesPerSec: z.number().nullable(),
    maxThrottlePercent: z.number().int().nullable(),
    errorCode: z.string().nullable(),
    error: z.string().nullable(),
    cancelRequestedAt: isoDate.nullable(),
    createdAt: isoDate,
    startedAt: isoDate.nullable(),
    finishedAt: isoDate.nullable(),
  })
  .meta({ id: "Migration" });

export const MigrateBody = z
  .object({
    targetNode: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe("node id or name (default: the scheduler picks)"),
    maxDowntimeMs: z.number().int().min(1).max(60_000).optional(),
    bandwidthBytesPerSec: z.number().int().min(1).optional(),
    maxRounds: z.number().int().min(1).max(1000).optional(),
    timeoutMs: z.number().int().min(1000).max(3_600_000).optional(),
    reason: z.string().max(500).optional(),
  })
  .strict();

export const ListMigrationsQuery = PageQuery.extend({
  vpsId: id.optional(),
  nodeId: id.optional().describe("as source or target"),
  state: MigrationStateSchema.optional(),
  active: z
    .enum(["true", "false"])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === "true")),
  trigger: z.string().max(50).optional(),
});

export const NetworkSchema = z
  .object({
    id,
    projectId: id,
    name: z.string(),
    vni: z.number().int().describe("VXLAN network identifier"),
    cidr: z.string(),
    gateway: z.object({ ipv4: z.string(), mac: z.string() }),
    mtu: z.number().int().describe("the largest IPv4 packet the network carries; guests get it by DHCP"),
    createdAt: isoDate,
  })
  .meta({ id: "Network" });

export const ListNetworksQuery = PageQuery.extend({
  projectId: id.optional().describe("operators only: one project's networks"),
});

/** The network map in @skiff/net's shape (what a NodeSwitch or the region's Gateway takes). */
export const NetworkMapSchema = z
  .object({
    version: z.number().int(),
    networks: z.array(
      z.object({
        id,
        vni: z.number().int(),
        cidr: z.string(),
        gateway: z.object({ ipv4: z.string(), mac: z.string() }),
        /** The network's MTU (SKIFF_NETWORK_MTU); absent: Ethernet's 1500. */
        mtu: z.number().int().optional(),
      }),
    ),
    ports: z.array(
      z.object({
        vpsId: id,
        mac: z.string(),
        ipv4: z.string(),
        networkId: id,
        node: z.string(),
        hostname: z.string(),
      }),
    ),
    nodes: z.array(z.object({ id: z.string(), host: z.string(), port: z.number().int() })),
    gatewayNode: z.string().optional(),
  })
  .meta({ id: "NetworkMap" });
