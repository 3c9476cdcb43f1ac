import { errorMessage } from "@skiff/common";
import {
  AgentCallError,
  type AgentClient,
  isAgentError,
  type VmRef,
  type VmStateName,
  type VmStatus,
} from "../agents/agent-client.js";
import type { Vps } from "../db/client.js";
import { isTransientDbError } from "../db/transient.js";
import { isVpsChange } from "../domain/vps-changes.js";
import { ACTIONS, canTransition, type VpsAction, type VpsState } from "../domain/vps-state.js";
import { RELEASE_NIC } from "../network/ipam.js";
import type { LifecycleJob } from "../queues.js";
import { SYSTEM } from "../services/events.js";
import { moveVps } from "../services/vps-state-store.js";
import { type Attempt, CLEAR_ACTION, isLastAttempt, type WorkerContext } from "./context.js";
import { runVpsChange } from "./vps-changes.js";

export type LifecycleOutcome = "done" | "failed" | "superseded";

const CALLS: { readonly [A in VpsAction]: (a: AgentClient, ref: VmRef) => Promise<VmStatus> } = {
  start: (a, r) => a.startVm(r),
  stop: (a, r) => a.stopVm(r, { timeoutMs: 10_000 }),
  reboot: (a, r) => a.rebootVm(r),
  pause: (a, r) => a.pauseVm(r),
  resume: (a, r) => a.resumeVm(r),
  suspend: (a, r) => a.suspendVm(r),
  restore: (a, r) => a.resumeSuspendedVm(r),
};

/** The VM state an action leaves behind (to recognise an action a previous try completed). */
const VM_AFTER: { readonly [A in VpsAction]: VmStateName } = {
  start: "running",
  stop: "stopped",
  reboot: "running",
  pause: "paused",
  resume: "running",
  suspend: "suspended",
  restore: "running",
};

const OBSERVED: Partial<Record<VmStateName, VpsState>> = {
  running: "running",
  paused: "paused",
  stopped: "stopped",
  created: "stopped",
  suspended: "suspended",
  crashed: "error",
};

/**
 * Runs one action against the VPS's agent and moves the VPS to the action's final state. On the
 * last failed try, asks the agent what actually happened and records that (or error), so a VPS
 * is never left holding an action.
 */
export async function runLifecycle(
  ctx: WorkerContext,
  job: LifecycleJob,
  attempt: Attempt,
): Promise<LifecycleOutcome> {
  const { db } = ctx;
  const v = await db.vps.findUnique({ where: { id: job.vpsId } });
  if (!v || v.actionId !== job.actionId) return "superseded";
  const node = v.nodeId ? await db.node.findUnique({ where: { id: v.nodeId } }) : null;
  const agent = node ? ctx.agents.forNode(node) : null;
  const ref = { vmId: v.id, epoch: v.epoch };
  if (isVpsChange(job.action)) return runVpsChange(ctx, v, { ...job, action: job.action }, agent, attempt);
  try {
    if (job.action === "delete") {
      let leftBehind = false;
      // A node that is down cannot destroy anything now. Deleting must not wait for it: the VM it
      // still holds is destroyed as stale when the node reports it again (it never resumes).
      // The VPS's disk on shared storage goes with it (deleteDisk): by its node, or, that node
      // down, by any node that mounts the same storage.
      if (agent && node?.status === "ready") {
        try {
          await agent.destroyVm(ref, { deleteDisk: true });
        } catch (err) {
          if (!isAgentError(err, "VM_NOT_FOUND")) {
            if (!(isAgentError(err) && err.retryable) || !isLastAttempt(attempt)) throw err;
            leftBehind = true;
          }
        }
      } else {
        leftBehind = agent !== null;
        const sharer = v.diskStorageId ? await sharerOf(ctx, v.diskStorageId) : null;
        if (sharer) {
          try {
            await sharer.destroyVm(ref, { deleteDisk: true });
          } catch (err) {
            if (isAgentError(err) && err.retryable && !isLastAttempt(attempt)) throw err;
            ctx.log.warn({ err, vps: v.id }, "the VPS's disk on shared storage could not be deleted");
          }
        }
      }
      const done = await db.$transaction((tx) =>
        moveVps(tx, v, "deleted", {
          actor: SYSTEM,
          actionId: job.actionId,
          reason: leftBehind
            ? `node ${node?.name} was unreachable: it destroys the VM when it reports again`
            : null,
          // Its address and MAC are free for the next VPS from here on.
          set: { ...CLEAR_ACTION, ...RELEASE_NIC, nodeId: null, deletedAt: new Date() },
        }),
      );
      if (done) await ctx.networkMap?.publish();
      return done ? "done" : "superseded";
    }
    if (!agent) throw new AgentCallError("NO_NODE", "the VPS has no node", false);
    try {
      await CALLS[job.action](agent, ref);
    } catch (err) {
      // An earlier try may have done it already (the worker died before recording it).
      if (!isAgentError(err, "INVALID_TRANSITION")) throw err;
      const vm = await agent.getVm(v.id);
      if (vm?.state !== VM_AFTER[job.action]) throw err;
    }
    const to = ACTIONS[job.action].to;
    const done = await db.$transaction((tx) =>
      moveVps(tx, v, to, { actor: SYSTEM, actionId: job.actionId, reason: null, set: CLEAR_ACTION }),
    );
    return done ? "done" : "superseded";
  } catch (err) {
    if (isAgentError(err, "STALE_EPOCH")) {
      await settle(ctx, v, job, "error", "the node holds a newer generation of this VM (stale epoch)");
      return "failed";
    }
    const retryable = (isAgentError(err) && err.retryable) || isTransientDbError(err);
    if (retryable && !isLastAttempt(attempt)) throw err;
    await settle(ctx, v, job, await observedState(agent, v), `${job.action} failed: ${errorMessage(err)}`);
    return "failed";
  }
}

/** The agent of a ready node that mounts the shared storage `storageId` (null when none). */
async function sharerOf(ctx: WorkerContext, storageId: string): Promise<AgentClient | null> {
  const n = await ctx.db.node.findFirst({
    where: { storageId, status: "ready" },
    orderBy: { lastHeartbeatAt: "desc" },
  });
  return n ? ctx.agents.forNode(n) : null;
}

export async function observedState(agent: AgentClient | null, v: Vps): Promise<VpsState> {
  if (!agent) return "error";
  try {
    const vm = await agent.getVm(v.id);
    const s = vm && vm.epoch === v.epoch ? OBSERVED[vm.state] : undefined;
    return s ?? "error";
  } catch (err) {
    return isAgentError(err) && err.retryable ? "unknown" : "error";
  }
}

/** Ends a failed action: the VPS takes the state its VM is in (or error) and the reason. */
export async function settle(
  ctx: WorkerContext,
  v: Vps,
  job: LifecycleJob,
  to: VpsState,
  reason: string,
): Promise<void> {
  const target = canTransition(v.state, to) ? to : "error";
  await ctx.db.$transaction((tx) =>
    moveVps(tx, v, target, {
      actor: SYSTEM,
      type: "vps.action_failed",
      actionId: job.actionId,
      reason,
      set: CLEAR_ACTION,
      details: { action: job.action },
    }),
  );
  ctx.log.warn({ vps: v.id, action: job.action, state: target, reason }, "VPS action failed");
}
