import { randomUUID } from "node:crypto";
import type { Logger } from "@skiff/common";
import type { Db, Plan, Prisma, Vps } from "../db/client.js";
import { type PlacementPolicy, place } from "../domain/placement.js";
import { CHANGES, type VpsChange } from "../domain/vps-changes.js";
import { projectFilter, type TokenPrincipal } from "../http/auth.js";
import { apiError } from "../http/errors.js";
import { idOrName } from "../http/refs.js";
import type { JobQueues } from "../queues.js";
import { nodeLoads, PLACEMENT_LOCK } from "./capacity.js";
import { actorOf, recordEvent } from "./events.js";
import { moveVps } from "./vps-state-store.js";

type Tx = Prisma.TransactionClient;

export interface VpsChangeDeps {
  readonly db: Db;
  readonly queues: Pick<JobQueues, "enqueueLifecycle">;
  readonly policy: PlacementPolicy;
  readonly log: Logger;
}

/** Rename, resize and rebuild: what a VPS is, changed in place (its address stays). */
export class VpsChanges {
  constructor(private readonly deps: VpsChangeDeps) {}

  /** A new name, unique in the project among VPSes not deleted; nothing else changes. */
  async rename(p: TokenPrincipal, id: string, name: string): Promise<Vps> {
    return this.deps.db.$transaction(async (tx) => {
      const v = await this.held(tx, p, id);
      if (v.name === name) return v;
      // As at creation: the project row serializes name checks.
      await tx.$executeRaw`SELECT 1 FROM projects WHERE id = ${v.projectId}::uuid FOR NO KEY UPDATE`;
      const taken = await tx.vps.findFirst({
        where: { projectId: v.projectId, name, state: { not: "deleted" } },
        select: { id: true },
      });
      if (taken) throw apiError("NAME_TAKEN", `a VPS named ${name} exists`, { id: taken.id });
      const renamed = await tx.vps.update({ where: { id }, data: { name } });
      await recordEvent(tx, {
        projectId: v.projectId,
        actor: actorOf(p),
        resourceType: "vps",
        resourceId: id,
        type: "vps.renamed",
        message: `${v.name} → ${name}`,
        details: { from: v.name, to: name },
      });
      return renamed;
    });
  }

  /**
   * A stopped VPS to another plan, on its node: the node must hold the new size (422 NO_NODE_FITS
   * otherwise: migrate it first), the project's quotas too, and a disk only grows.
   */
  async resize(p: TokenPrincipal, id: string, planRef: string): Promise<Vps> {
    const plan = await this.deps.db.plan.findFirst({ where: idOrName(planRef) });
    if (!plan) throw apiError("INVALID_REFERENCE", `no plan ${planRef}`, { field: "plan" });
    return this.hold(p, id, "resize", { planId: plan.id }, async (tx, v) => {
      if (plan.diskBytes < v.diskBytes) {
        throw apiError("UNPROCESSABLE", `a disk only grows: plan ${plan.name} has less disk than the VPS`, {
          field: "plan",
        });
      }
      await this.checkQuota(tx, v, plan);
      await this.checkNodeHolds(tx, v, plan);
      return { plan: plan.name };
    });
  }

  /** Its disk made afresh from `imageRef` and booted; the name, address and MAC stay. */
  async rebuild(p: TokenPrincipal, id: string, imageRef: string): Promise<Vps> {
    const v0 = await this.deps.db.vps.findFirst({ where: { id, ...projectFilter(p) } });
    if (!v0) throw apiError("VPS_NOT_FOUND", `no VPS ${id}`);
    const image = await this.deps.db.image.findFirst({
      where: { ...idOrName(imageRef), OR: [{ projectId: null }, { projectId: v0.projectId }] },
    });
    if (!image) throw apiError("INVALID_REFERENCE", `no image ${imageRef}`, { field: "image" });
    return this.hold(p, id, "rebuild", { imageId: image.id }, async () => ({ image: image.name }));
  }

  /** The VPS the caller may change, locked for the transaction. */
  private async held(tx: Tx, p: TokenPrincipal, id: string): Promise<Vps> {
    const v = await tx.vps.findFirst({ where: { id, ...projectFilter(p), state: { not: "deleted" } } });
    if (!v) throw apiError("VPS_NOT_FOUND", `no VPS ${id}`);
    await tx.$executeRaw`SELECT 1 FROM vps WHERE id = ${id}::uuid FOR NO KEY UPDATE`;
    return v;
  }

  /** Like VpsService.act: checks, holds the VPS with the change, enqueues its job after commit. */
  async hold(
    p: TokenPrincipal,
    id: string,
    change: VpsChange,
    job: { planId?: string; imageId?: string; snapshotId?: string },
    check: (tx: Tx, v: Vps) => Promise<Record<string, unknown>>,
  ): Promise<Vps> {
    const spec = CHANGES[change];
    const actionId = randomUUID();
    const updated = await this.deps.db.$transaction(async (tx) => {
      // Capacity decisions are serialized cluster-wide (placement, migration targets, resizes).
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${PLACEMENT_LOCK})`;
      const v = await this.held(tx, p, id);
      if (v.action) {
        throw apiError("VPS_BUSY", `VPS is busy with ${v.action}; retry when it finishes`, {
          action: v.action,
          state: v.state,
        });
      }
      if (!spec.from.includes(v.state) || !v.nodeId) {
        throw apiError("INVALID_STATE", `cannot ${change} a VPS that is ${v.state}`, {
          state: v.state,
          allowedFrom: spec.from,
        });
      }
      const details = await check(tx, v);
      const moved = await moveVps(tx, v, spec.during ?? v.state, {
        actor: actorOf(p),
        type: `vps.${change}_requested`,
        actionId: null,
        reason: null,
        set: { action: change, actionId, actionStartedAt: new Date() },
        details,
      });
      if (!moved) throw apiError("VPS_BUSY", "VPS changed while the request was handled; retry");
      return tx.vps.findUniqueOrThrow({ where: { id } });
    });
    try {
      await this.deps.queues.enqueueLifecycle({ vpsId: id, action: change, actionId, ...job });
    } catch (err) {
      this.deps.log.warn({ err, vpsId: id }, "enqueue failed; the reconcile job will retry it");
    }
    return updated;
  }

  /** The project's quotas with this VPS at the new plan's size. */
  private async checkQuota(tx: Tx, v: Vps, plan: Plan): Promise<void> {
    const project = await tx.project.findUniqueOrThrow({ where: { id: v.projectId } });
    const used = await tx.vps.aggregate({
      where: { projectId: v.projectId, state: { not: "deleted" }, id: { not: v.id } },
      _sum: { vcpus: true, memoryBytes: true },
    });
    const vcpus = (used._sum.vcpus ?? 0) + plan.vcpus;
    const memory = (used._sum.memoryBytes ?? 0n) + plan.memoryBytes;
    const over: string[] = [];
    if (vcpus > project.maxVcpus) over.push(`vCPUs ${vcpus}/${project.maxVcpus}`);
    if (memory > project.maxMemoryBytes) over.push(`memory ${memory}/${project.maxMemoryBytes} bytes`);
    if (over.length) throw apiError("QUOTA_EXCEEDED", `project quota exceeded: ${over.join(", ")}`);
  }

  /** Its node holds the new size once its current one is given back. */
  private async checkNodeHolds(tx: Tx, v: Vps, plan: Plan): Promise<void> {
    const [load] = await nodeLoads(tx, { nodeIds: [v.nodeId!] });
    if (!load) throw apiError("INVALID_STATE", "the VPS's node is gone");
    const r = load.reserved;
    const without = {
      ...load,
      // Resizing in place is not a placement: maintenance does not forbid it.
      maintenance: false,
      reserved: {
        vpsCount: r.vpsCount - 1,
        vcpus: r.vcpus - v.vcpus,
        cpuShare: r.cpuShare - v.cpuShare,
        memoryBytes: r.memoryBytes - Number(v.memoryBytes),
        diskBytes: r.diskBytes - Number(v.diskBytes),
      },
    };
    const size = {
      vcpus: plan.vcpus,
      cpuShare: plan.cpuShare,
      memoryBytes: Number(plan.memoryBytes),
      diskBytes: Number(plan.diskBytes),
      nodeId: load.id,
    };
    const d = place([without], size, this.deps.policy);
    if (!d.ok) {
      throw apiError(
        "NO_NODE_FITS",
        `node ${load.name} cannot hold plan ${plan.name}: ${d.rejected[load.name]}; migrate the VPS to a node with room, then resize`,
        { rejected: d.rejected },
      );
    }
  }
}
