import { randomUUID } from "node:crypto";
import type { Logger } from "@skiff/common";
import type { z } from "zod";
import { type Db, Prisma, type Vps } from "../db/client.js";
import type { PlacementPolicy } from "../domain/placement.js";
import { ACTIONS, type VpsAction } from "../domain/vps-state.js";
import { projectFilter, type TokenPrincipal } from "../http/auth.js";
import type { VpsDtoRow } from "../http/dto.js";
import { apiError } from "../http/errors.js";
import { type Cursor, decodeCursor } from "../http/pagination.js";
import { idOrName } from "../http/refs.js";
import type { CreateVpsBody, ListVpsQuery } from "../http/schemas.js";
import type { JobQueues } from "../queues.js";
import { couldHoldWhere } from "./capacity.js";
import { actorOf, recordEvent } from "./events.js";
import { resolveProject } from "./project-scope.js";
import { authorizedKeysFor } from "./ssh-keys.js";
import { moveVps } from "./vps-state-store.js";

type CreateInput = z.infer<typeof CreateVpsBody>;
type ListInput = z.infer<typeof ListVpsQuery>;

/** What a VPS list request asks for, in its caller's scope (VpsService.listFilter). */
export interface VpsListFilter {
  readonly projectId: string | undefined;
  readonly state: ListInput["state"];
  readonly includeDeleted: boolean;
  readonly nodeId: string | undefined;
  readonly name: string | undefined;
  readonly after: Cursor | undefined;
  readonly limit: number;
}

export interface VpsServiceDeps {
  readonly db: Db;
  readonly queues: JobQueues;
  readonly policy: PlacementPolicy;
  readonly log: Logger;
}

/** What tenants and operators can do to VPSes; each mutation hands the slow part to a worker. */
export class VpsService {
  constructor(private readonly deps: VpsServiceDeps) {}

  /** A VPS the caller may see, or 404 (the same 404 whether it is missing or another tenant's). */
  async get(p: TokenPrincipal, id: string): Promise<Vps> {
    const v = await this.deps.db.vps.findFirst({ where: { id, ...projectFilter(p) } });
    if (!v) throw apiError("VPS_NOT_FOUND", `no VPS ${id}`);
    return v;
  }

  /**
   * A list request in the caller's scope (a tenant sees its project only), its cursor checked: the
   * query of one page, and in this canonical form the key its page is kept under.
   */
  listFilter(p: TokenPrincipal, q: ListInput): VpsListFilter {
    return {
      projectId: p.kind === "tenant" ? p.projectId : q.projectId,
      state: q.state,
      includeDeleted: q.includeDeleted,
      nodeId: q.nodeId,
      name: q.name,
      after: decodeCursor(q.cursor),
      limit: q.limit,
    };
  }

  /**
   * A page of VPSes, oldest first (limit + 1 rows: the extra one says there is a next page). A raw
   * query, the hottest list's: it costs about half the CPU of findMany's query building and result
   * mapping.
   */
  async list(f: VpsListFilter): Promise<VpsDtoRow[]> {
    const where: Prisma.Sql[] = [];
    if (f.projectId) where.push(Prisma.sql`v.project_id = ${f.projectId}::uuid`);
    if (f.state) where.push(Prisma.sql`v.state = ${f.state}::vps_state`);
    else if (!f.includeDeleted) where.push(Prisma.sql`v.state <> 'deleted'`);
    if (f.nodeId) where.push(Prisma.sql`v.node_id = ${f.nodeId}::uuid`);
    if (f.name) where.push(Prisma.sql`v.name = ${f.name}`);
    if (f.after) {
      const t = new Date(f.after.t);
      where.push(
        Prisma.sql`(v.created_at > ${t}::timestamptz OR (v.created_at = ${t}::timestamptz AND v.id > ${f.after.id}::uuid))`,
      );
    }
    return this.deps.db.$queryRaw<VpsDtoRow[]>`
      SELECT v.id, v.project_id AS "projectId", v.name, v.state::text AS state, v.state_reason AS "stateReason",
             v.action, v.plan_id AS "planId", v.image_id AS "imageId", v.node_id AS "nodeId",
             v.placement_group_id AS "placementGroupId", v.epoch, v.vcpus, v.memory_bytes AS "memoryBytes",
             v.disk_bytes AS "diskBytes", v.cpu_share AS "cpuShare", v.ipv4, v.mac, v.network_id AS "networkId",
             v.authorized_keys AS "authorizedKeys", v.created_at AS "createdAt", v.updated_at AS "updatedAt"
      FROM vps v
      ${where.length ? Prisma.sql`WHERE ${Prisma.join(where, " AND ")}` : Prisma.empty}
      ORDER BY v.created_at, v.id
      LIMIT ${f.limit + 1}`;
  }

  async create(p: TokenPrincipal, body: CreateInput): Promise<Vps> {
    const { db } = this.deps;
    if (p.kind === "tenant" && (body.projectId || body.node)) {
      throw apiError("FORBIDDEN", "only operators may choose the project or the node");
    }
    const projectId = await resolveProject(db, p, body.projectId);
    const authorizedKeys = body.sshKeys ? await authorizedKeysFor(db, projectId, body.sshKeys) : "";
    const plan = await db.plan.findFirst({ where: idOrName(body.plan) });
    if (!plan) throw apiError("INVALID_REFERENCE", `no plan ${body.plan}`, { field: "plan" });
    const snapshot = body.snapshot ? await this.snapshotFor(projectId, body.snapshot, plan.diskBytes) : null;
    const image = await db.image.findFirst({
      where: snapshot
        ? { id: snapshot.imageId }
        : {
            ...(body.image ? idOrName(body.image) : { isDefault: true }),
            OR: [{ projectId: null }, { projectId }],
          },
    });
    if (!image) {
      throw apiError("INVALID_REFERENCE", body.image ? `no image ${body.image}` : "no default image", {
        field: "image",
      });
    }
    const group = body.placementGroup
      ? await db.placementGroup.findFirst({ where: { ...idOrName(body.placementGroup), projectId } })
      : null;
    if (body.placementGroup && !group) {
      throw apiError("INVALID_REFERENCE", `no placement group ${body.placementGroup}`, {
        field: "placementGroup",
      });
    }
    // A snapshot is on its node (or the storage it shares): the VPS is made there.
    const node = body.node
      ? await db.node.findFirst({ where: idOrName(body.node) })
      : snapshot?.nodeId
        ? await db.node.findUnique({ where: { id: snapshot.nodeId } })
        : null;
    if (body.node && !node) throw apiError("INVALID_REFERENCE", `no node ${body.node}`, { field: "node" });

    // 422 up front when no node, even empty, could ever hold this plan: waiting would not help.
    const fits = couldHoldWhere(plan, this.deps.policy);
    const possible = await db.node.count({ where: node ? { ...fits, id: node.id } : fits });
    if (possible === 0) {
      throw apiError(
        "NO_NODE_FITS",
        node
          ? `node ${node.name} can never hold plan ${plan.name}`
          : `no node can ever hold plan ${plan.name}`,
        {
          plan: plan.name,
          vcpus: plan.vcpus,
          memoryBytes: Number(plan.memoryBytes),
          diskBytes: Number(plan.diskBytes),
        },
      );
    }

    const actionId = randomUUID();
    const vps = await db.$transaction(async (tx) => {
      // The project row lock serializes creations per project: quota and name checks hold. NO KEY
      // UPDATE, not UPDATE: it must not block the foreign-key checks (KEY SHARE) of transactions
      // that only refer to the project (placement creating its network), or they deadlock.
      const [project] = await tx.$queryRaw<
        { max_vps: number; max_vcpus: number; max_memory_bytes: bigint }[]
      >`
        SELECT max_vps, max_vcpus, max_memory_bytes FROM projects WHERE id = ${projectId}::uuid FOR NO KEY UPDATE`;
      if (!project) throw apiError("INVALID_REFERENCE", "project not found", { field: "projectId" });
      const live = { projectId, state: { not: "deleted" as const } };
      const taken = await tx.vps.findFirst({ where: { ...live, name: body.name }, select: { id: true } });
      if (taken) throw apiError("NAME_TAKEN", `a VPS named ${body.name} exists`, { id: taken.id });
      const used = await tx.vps.aggregate({
        where: live,
        _count: true,
        _sum: { vcpus: true, memoryBytes: true },
      });
      const usedVcpus = used._sum.vcpus ?? 0;
      const usedMemory = used._sum.memoryBytes ?? 0n;
      const over: string[] = [];
      if (used._count + 1 > project.max_vps) over.push(`VPS count ${used._count}/${project.max_vps}`);
      if (usedVcpus + plan.vcpus > project.max_vcpus) over.push(`vCPUs ${usedVcpus}/${project.max_vcpus}`);
      if (usedMemory + plan.memoryBytes > BigInt(project.max_memory_bytes))
        over.push(`memory ${usedMemory}/${project.max_memory_bytes} bytes`);
      if (over.length) throw apiError("QUOTA_EXCEEDED", `project quota exceeded: ${over.join(", ")}`);

      const created = await tx.vps.create({
        data: {
          projectId,
          name: body.name,
          planId: plan.id,
          imageId: image.id,
          placementGroupId: group?.id ?? null,
          requestedNodeId: node?.id ?? null,
          sourceSnapshotId: snapshot?.id ?? null,
          vcpus: plan.vcpus,
          memoryBytes: plan.memoryBytes,
          diskBytes: plan.diskBytes,
          cpuShare: plan.cpuShare,
          authorizedKeys,
          state: "pending",
          action: "create",
          actionId,
          actionStartedAt: new Date(),
        },
      });
      await recordEvent(tx, {
        projectId,
        actor: actorOf(p),
        resourceType: "vps",
        resourceId: created.id,
        type: "vps.created",
        toState: "pending",
        details: { plan: plan.name, image: image.name, placementGroup: group?.name, node: node?.name },
      });
      return created;
    });
    await this.enqueue(() => this.deps.queues.enqueueProvision({ vpsId: vps.id, actionId }), vps.id);
    return vps;
  }

  /** start/stop/...: 202 with the VPS in its transitional state, or 409 if it is busy or can't. */
  async act(p: TokenPrincipal, id: string, action: VpsAction | "delete"): Promise<Vps> {
    const spec = ACTIONS[action];
    const actionId = randomUUID();
    const updated = await this.deps.db.$transaction(async (tx) => {
      const v = await tx.vps.findFirst({ where: { id, ...projectFilter(p) } });
      if (!v) throw apiError("VPS_NOT_FOUND", `no VPS ${id}`);
      if (v.action) {
        throw apiError("VPS_BUSY", `VPS is busy with ${v.action}; retry when it finishes`, {
          action: v.action,
          state: v.state,
        });
      }
      if (!spec.from.includes(v.state)) {
        throw apiError("INVALID_STATE", `cannot ${action} a VPS that is ${v.state}`, {
          state: v.state,
          allowedFrom: spec.from,
        });
      }
      const to = spec.during ?? v.state;
      const moved = await moveVps(tx, v, to, {
        actor: actorOf(p),
        type: `vps.${action}_requested`,
        actionId: null,
        reason: null,
        set: { action, actionId, actionStartedAt: new Date() },
        details: { action },
      });
      if (!moved) throw apiError("VPS_BUSY", "VPS changed while the request was handled; retry");
      return tx.vps.findUniqueOrThrow({ where: { id } });
    });
    await this.enqueue(() => this.deps.queues.enqueueLifecycle({ vpsId: id, action, actionId }), id);
    return updated;
  }

  /** An available snapshot of the project that a disk of `diskBytes` holds, with its VPS's image. */
  private async snapshotFor(projectId: string, ref: string, diskBytes: bigint) {
    const s = await this.deps.db.snapshot.findFirst({
      where: { projectId, ...idOrName(ref) },
      include: { vps: { select: { imageId: true } } },
    });
    if (!s) throw apiError("INVALID_REFERENCE", `no snapshot ${ref}`, { field: "snapshot" });
    if (s.state !== "available") {
      throw apiError("INVALID_STATE", `snapshot ${s.name} is ${s.state}`, { state: s.state });
    }
    // A plan without a disk size gives the VPS a disk as large as what it is made from.
    if (diskBytes > 0n && s.sizeBytes > diskBytes) {
      throw apiError("UNPROCESSABLE", `snapshot ${s.name} is larger than the plan's disk`, { field: "plan" });
    }
    return { id: s.id, nodeId: s.nodeId, imageId: s.vps.imageId };
  }

  /**
   * Enqueue after commit. If Redis refuses, the row still says what is wanted and the reconcile
   * job enqueues it again, so the client's 202 stays true.
   */
  private async enqueue(fn: () => Promise<void>, vpsId: string): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.deps.log.warn({ err, vpsId }, "enqueue failed; the reconcile job will retry it");
    }
  }
}
