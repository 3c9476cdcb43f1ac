import type { Queue } from "bullmq";
import type { BullQueues, JobQueues, LifecycleJob } from "../queues.js";
import { isStale, type NodeService, type StaleVm } from "../services/nodes.js";
import type { WorkerContext } from "./context.js";

/** Actions older than this without a live job are re-enqueued (their enqueue or job was lost). */
export const ORPHAN_AFTER_MS = 60_000;

/**
 * Finds VPSes holding an action whose BullMQ job is gone or failed for good (Redis was down at
 * enqueue time, or the job was lost) and enqueues it again under the same action id.
 */
export async function reconcileOrphans(
  ctx: WorkerContext,
  queues: Pick<BullQueues, "provision" | "lifecycle" | "migration" | keyof JobQueues>,
  now = Date.now(),
): Promise<number> {
  const held = await ctx.db.vps.findMany({
    where: { actionId: { not: null }, actionStartedAt: { lt: new Date(now - ORPHAN_AFTER_MS) } },
    select: { id: true, action: true, actionId: true },
    take: 500,
  });
  let requeued = 0;
  for (const v of held) {
    const actionId = v.actionId!;
    const queue = (
      v.action === "create" ? queues.provision : v.action === "migrate" ? queues.migration : queues.lifecycle
    ) as Queue;
    const existing = await queue.getJob(actionId);
    const state = existing ? await existing.getState() : "missing";
    if (state !== "missing" && state !== "failed" && state !== "completed") continue;
    if (existing) await existing.remove().catch(() => undefined);
    if (v.action === "create") await queues.enqueueProvision({ vpsId: v.id, actionId });
    else if (v.action === "migrate") await queues.enqueueMigration({ migrationId: actionId });
    else await queues.enqueueLifecycle({ vpsId: v.id, action: v.action as LifecycleJob["action"], actionId });
    requeued++;
    ctx.log.warn({ vps: v.id, action: v.action, jobState: state }, "re-enqueued an orphaned action");
  }
  return requeued;
}

/**
 * Destroys a VM a node should not be running (its VPS was deleted or placed elsewhere). Its disk
 * on shared storage stays unless the VPS is deleted: the VPS restarted elsewhere runs on it.
 */
export async function destroyStaleVm(ctx: WorkerContext, vm: StaleVm): Promise<boolean> {
  const node = await ctx.db.node.findUnique({ where: { id: vm.nodeId } });
  if (!node) return false;
  // Judge again now, not by the heartbeat that queued this: the VPS may have moved there since.
  const v = await ctx.db.vps.findUnique({ where: { id: vm.vmId } });
  if ((v && !isStale(v, vm.nodeId, vm.epoch)) || v?.action) return false;
  // Its disk goes too only if this was the deleted VPS's last generation (a newer one owns the
  // disk otherwise, and deleted it with the VPS).
  const deleted = v?.state === "deleted" && vm.epoch >= v.epoch;
  await ctx.agents.forNode(node).destroyVm({ vmId: vm.vmId, epoch: vm.epoch }, { deleteDisk: deleted });
  ctx.log.info({ node: node.name, vm: vm.vmId, epoch: vm.epoch, deleted }, "destroyed a stale VM");
  return true;
}

export async function collectIdempotencyKeys(ctx: WorkerContext, now = new Date()): Promise<number> {
  const { count } = await ctx.db.idempotencyKey.deleteMany({ where: { expiresAt: { lt: now } } });
  return count;
}

export interface MaintenanceDeps {
  readonly nodes: NodeService;
  readonly nodeDeadAfterMs: number;
}
