import type { Queue } from "bullmq";
import type { LifecycleJob, ProvisionJob } from "../queues.js";
import type { NodeService, StaleVm } from "../services/nodes.js";
import type { WorkerContext } from "./context.js";

/** Actions older than this without a live job are re-enqueued (their enqueue or job was lost). */
export const ORPHAN_AFTER_MS = 60_000;

/**
 * Finds VPSes holding an action whose BullMQ job is gone or failed for good (Redis was down at
 * enqueue time, or the job was lost) and enqueues it again under the same action id.
 */
export async function reconcileOrphans(
  ctx: WorkerContext,
  queues: { provision: Queue<ProvisionJob>; lifecycle: Queue<LifecycleJob> },
  now = Date.now(),
): Promise<number> {
  const held = await ctx.db.vps.findMany({
    where: { actionId: { not: null }, actionStartedAt: { lt: new Date(now - ORPHAN_AFTER_MS) } },
    select: { id: true, action: true, actionId: true },
    take: 500,
  });
  let requeued = 0;
  for (const v of held) {
    const isCreate = v.action === "create";
    const queue = (isCreate ? queues.provision : queues.lifecycle) as Queue;
    const existing = await queue.getJob(v.actionId!);
    const state = existing ? await existing.getState() : "missing";
    if (state !== "missing" && state !== "failed" && state !== "completed") continue;
    if (existing) await existing.remove().catch(() => undefined);
    if (isCreate) {
      await queues.provision.add(
        "provision",
        { vpsId: v.id, actionId: v.actionId! },
        { jobId: v.actionId!, attempts: 6, backoff: { type: "exponential", delay: 1000 } },
      );
    } else {
      const job: LifecycleJob = {
        vpsId: v.id,
        action: v.action as LifecycleJob["action"],
        actionId: v.actionId!,
      };
      await queues.lifecycle.add(job.action, job, {
        jobId: v.actionId!,
        attempts: 5,
        backoff: { type: "exponential", delay: 500 },
      });
    }
    requeued++;
    ctx.log.warn({ vps: v.id, action: v.action, jobState: state }, "re-enqueued an orphaned action");
  }
  return requeued;
}

/** Destroys a VM a node should not be running (its VPS was deleted or placed elsewhere). */
export async function destroyStaleVm(ctx: WorkerContext, vm: StaleVm): Promise<void> {
  const node = await ctx.db.node.findUnique({ where: { id: vm.nodeId } });
  if (!node) return;
  await ctx.agents.forNode(node).destroyVm({ vmId: vm.vmId, epoch: vm.epoch });
  ctx.log.info({ node: node.name, vm: vm.vmId, epoch: vm.epoch }, "destroyed a stale VM");
}

export async function collectIdempotencyKeys(ctx: WorkerContext, now = new Date()): Promise<number> {
  const { count } = await ctx.db.idempotencyKey.deleteMany({ where: { expiresAt: { lt: now } } });
  return count;
}

export interface MaintenanceDeps {
  readonly nodes: NodeService;
  readonly nodeDeadAfterMs: number;
}
