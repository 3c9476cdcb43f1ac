/**
 * Resize, rebuild and disk snapshots (domain/vps-changes.ts) on the VPS's agent. Snapshot: the
 * agent copies the disk (a running guest paused for the copy only) and the snapshot records
 * where it is; restore-snapshot: a stopped VM's disk takes the snapshot's content. Resize: the stopped VM takes
 * the plan's memory, CPU cap and disk size (the disk grows, sparse; the guest sees it at its next
 * boot), then the row takes the plan. Rebuild: the VM and its disk are destroyed and made afresh
 * from the image at the next epoch, booted, with the same NIC (address and MAC). Both are safe to
 * run again: a resize to the same size is a no-op, and a rebuild that finds the new epoch on the
 * node already only records it.
 */
import { errorMessage } from "@skiff/common";
import { type AgentClient, isAgentError } from "../agents/agent-client.js";
import type { Vps } from "../db/client.js";
import { isTransientDbError } from "../db/transient.js";
import type { VpsChange } from "../domain/vps-changes.js";
import type { LifecycleJob } from "../queues.js";
import { SYSTEM } from "../services/events.js";
import { moveVps } from "../services/vps-state-store.js";
import { type Attempt, CLEAR_ACTION, isLastAttempt, type WorkerContext } from "./context.js";
import { type LifecycleOutcome, observedState, settle } from "./lifecycle.js";
import { vmSpec } from "./provision.js";

export async function runVpsChange(
  ctx: WorkerContext,
  v: Vps,
  job: LifecycleJob & { action: VpsChange },
  agent: AgentClient | null,
  attempt: Attempt,
): Promise<LifecycleOutcome> {
  const { db } = ctx;
  try {
    if (!agent) throw new Error("the VPS has no node");
    if (job.action === "resize") {
      const plan = await db.plan.findUniqueOrThrow({ where: { id: job.planId } });
      const image = await db.image.findUniqueOrThrow({ where: { id: v.imageId } });
      await agent.resizeVm(
        { vmId: v.id, epoch: v.epoch },
        {
          memoryBytes: Number(plan.memoryBytes),
          cpuMillis: plan.cpuShare * 10,
          // A VM made without a disk (no root filesystem in its image) has none to grow.
          diskBytes: image.rootfsPath ? Number(plan.diskBytes) : 0,
        },
      );
      const done = await db.$transaction((tx) =>
        moveVps(tx, v, "stopped", {
          actor: SYSTEM,
          type: "vps.resized",
          actionId: job.actionId,
          reason: null,
          set: {
            ...CLEAR_ACTION,
            planId: plan.id,
            vcpus: plan.vcpus,
            memoryBytes: plan.memoryBytes,
            diskBytes: plan.diskBytes,
            cpuShare: plan.cpuShare,
          },
          details: { plan: plan.name },
        }),
      );
      return done ? "done" : "superseded";
    }
    if (job.action === "snapshot") return await takeSnapshot(ctx, v, job, agent);
    if (job.action === "restore-snapshot") {
      await agent.restoreDiskSnapshot({ vmId: v.id, epoch: v.epoch }, job.snapshotId!);
      return release(ctx, v, job, "vps.snapshot_restored", { snapshotId: job.snapshotId });
    }
    const image = await db.image.findUniqueOrThrow({ where: { id: job.imageId } });
    const next = v.epoch + 1;
    const vm = await agent.getVm(v.id);
    // The old VM and its disk go (on shared storage too), unless an earlier try got further.
    if (vm && vm.epoch < next) await agent.destroyVm({ vmId: v.id, epoch: v.epoch }, { deleteDisk: true });
    await agent.createVm({ vmId: v.id, epoch: next }, vmSpec({ ...v, imageId: image.id }, image), true);
    const node = await db.node.findUniqueOrThrow({ where: { id: v.nodeId! } });
    const diskStorageId = node.storageBackend === "shared" && image.rootfsPath ? node.storageId : null;
    const done = await db.$transaction((tx) =>
      moveVps(tx, v, "running", {
        actor: SYSTEM,
        type: "vps.rebuilt",
        actionId: job.actionId,
        reason: null,
        set: { ...CLEAR_ACTION, imageId: image.id, epoch: next, diskStorageId },
        details: { image: image.name },
      }),
    );
    return done ? "done" : "superseded";
  } catch (err) {
    const retryable = (isAgentError(err) && err.retryable) || isTransientDbError(err);
    if (retryable && !isLastAttempt(attempt)) throw err;
    if (job.action === "snapshot") {
      await db.snapshot.updateMany({
        where: { id: job.snapshotId!, state: "creating" },
        data: { state: "error", error: errorMessage(err) },
      });
    }
    await settle(ctx, v, job, await observedState(agent, v), `${job.action} failed: ${errorMessage(err)}`);
    return "failed";
  }
}

/** The snapshot is taken: it records where it is, and the VPS is released as it was. */
async function takeSnapshot(
  ctx: WorkerContext,
  v: Vps,
  job: LifecycleJob,
  agent: AgentClient,
): Promise<LifecycleOutcome> {
  const taken = await agent.snapshotDisk({ vmId: v.id, epoch: v.epoch }, job.snapshotId!);
  await ctx.db.snapshot.update({
    where: { id: job.snapshotId! },
    data: {
      state: "available",
      nodeId: v.nodeId,
      storageId: v.diskStorageId,
      path: taken.path,
      sizeBytes: BigInt(taken.sizeBytes),
      pausedMs: v.state === "running" ? taken.pausedMs : null,
    },
  });
  return release(ctx, v, job, "vps.snapshot_taken", { snapshotId: job.snapshotId, pausedMs: taken.pausedMs });
}

/** Clears the action, the VPS in the state it had. */
async function release(
  ctx: WorkerContext,
  v: Vps,
  job: LifecycleJob,
  type: string,
  details: Record<string, unknown>,
): Promise<LifecycleOutcome> {
  const done = await ctx.db.$transaction((tx) =>
    moveVps(tx, v, v.state, {
      actor: SYSTEM,
      type,
      actionId: job.actionId,
      reason: null,
      set: CLEAR_ACTION,
      details,
    }),
  );
  return done ? "done" : "superseded";
}
