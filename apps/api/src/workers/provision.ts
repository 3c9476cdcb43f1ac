import { errorMessage, SkiffError } from "@skiff/common";
import { type AgentCallError, isAgentError, type VmSpecInput } from "../agents/agent-client.js";
import type { Db, Image, Vps } from "../db/client.js";
import { isTransientDbError } from "../db/transient.js";
import { place } from "../domain/placement.js";
import { DEFAULT_NETWORK_POOL, ensureNic } from "../network/ipam.js";
import type { ProvisionJob } from "../queues.js";
import { nodeLoads, PLACEMENT_LOCK } from "../services/capacity.js";
import { SYSTEM } from "../services/events.js";
import { moveVps } from "../services/vps-state-store.js";
import { type Attempt, CLEAR_ACTION, isLastAttempt, type WorkerContext } from "./context.js";

export type ProvisionOutcome = "running" | "error" | "superseded";

/** Nothing fits now (retried with backoff; capacity may free up). */
export class NoCapacity extends SkiffError {}

export function vmSpec(v: Vps, image: Image): VmSpecInput {
  return {
    memoryBytes: Number(v.memoryBytes),
    vcpus: v.vcpus,
    bootMode: image.bootMode,
    kernelPath: image.kernelPath,
    initrdPath: image.initrdPath ?? "",
    diskImagePath: image.rootfsPath ?? "",
    diskBytes: Number(v.diskBytes),
    kernelArgs: image.kernelArgs,
    cpuMillis: v.cpuShare * 10,
    labels: { project: v.projectId, vps: v.name },
    nics: v.networkId && v.ipv4 && v.mac ? [{ mac: v.mac, ipv4: v.ipv4, networkId: v.networkId }] : [],
    hostname: v.name,
    sshPublicKeys: v.authorizedKeys.split("\n").filter((line) => line !== ""),
  };
}

/**
 * pending → provisioning (placed: node chosen and capacity reserved in one transaction) →
 * running (the agent created and booted the VM). Safe to run again at any point: a placed VPS is
 * not placed twice, and CreateVm is idempotent for the same vm id and epoch.
 */
export async function runProvision(
  ctx: WorkerContext,
  job: ProvisionJob,
  attempt: Attempt,
): Promise<ProvisionOutcome> {
  const { db } = ctx;
  let v = await db.vps.findUnique({ where: { id: job.vpsId } });
  if (!v || v.actionId !== job.actionId) return "superseded";
  try {
    if (v.state === "pending") {
      const placed = await placeVps(ctx, v, job);
      if (!placed) return "superseded";
      v = placed;
      // Its port is in the map from here on; the node's switch has it before the VM boots.
      await ctx.networkMap?.publish();
    }
    // Placed without a NIC: recovery's cold restart (it places on its own) of a VPS made before
    // networks existed. It gets one now, before the VM is made.
    if (v.state === "provisioning" && !v.mac) {
      v = await allocateNic(ctx, v);
      await ctx.networkMap?.publish();
    }
    if (v.state !== "provisioning" || !v.nodeId) return "superseded";
    const node = await db.node.findUniqueOrThrow({ where: { id: v.nodeId } });
    const image = await db.image.findUniqueOrThrow({ where: { id: v.imageId } });
    const agent = ctx.agents.forNode(node);
    const ref = { vmId: v.id, epoch: v.epoch };
    // A VPS that ran before (a cold restart after its node failed) comes back from its disk only;
    // one made from a snapshot gets a copy of it as its first disk.
    const ran = await hasRun(db, v.id);
    const snapshot =
      !ran && v.sourceSnapshotId ? await db.snapshot.findUnique({ where: { id: v.sourceSnapshotId } }) : null;
    if (!ran && v.sourceSnapshotId && !snapshot?.path) {
      throw new SkiffError("SNAPSHOT_GONE", "the snapshot this VPS is made from was deleted");
    }
    const spec = {
      ...vmSpec(v, image),
      ...(snapshot?.path ? { diskImagePath: snapshot.path } : {}),
      diskMustExist: ran,
    };
    try {
      await agent.createVm(ref, spec, true);
    } catch (err) {
      // VM_EXISTS: an earlier try got this far; make sure it runs.
      if (!isAgentError(err, "VM_EXISTS")) throw err;
      const vm = await agent.getVm(v.id);
      if (vm?.state !== "running") await agent.startVm(ref);
    }
    const vps = v;
    const done = await db.$transaction((tx) =>
      moveVps(tx, vps, "running", { actor: SYSTEM, actionId: job.actionId, reason: null, set: CLEAR_ACTION }),
    );
    return done ? "running" : "superseded";
  } catch (err) {
    if (isAgentError(err, "STALE_EPOCH")) return "superseded";
    const retryable =
      err instanceof NoCapacity ||
      (isAgentError(err) && (err as AgentCallError).retryable) ||
      isTransientDbError(err);
    if (retryable && !isLastAttempt(attempt)) throw err;
    await failProvision(ctx, job, errorMessage(err));
    return "error";
  }
}

/** True once the VPS has been running somewhere (its disk holds its data since). */
async function hasRun(db: Db, vpsId: string): Promise<boolean> {
  const e = await db.event.findFirst({
    where: { resourceType: "vps", resourceId: vpsId, toState: "running" },
    select: { id: true },
  });
  return e !== null;
}

export async function placeVps(ctx: WorkerContext, v: Vps, job: ProvisionJob): Promise<Vps | null> {
  const { db, policy } = ctx;
  const result = await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${PLACEMENT_LOCK})`;
    const cur = await tx.vps.findUnique({ where: { id: v.id } });
    if (!cur || cur.actionId !== job.actionId || cur.state !== "pending") return { vps: null };
    const group = cur.placementGroupId
      ? await tx.placementGroup.findUnique({ where: { id: cur.placementGroupId } })
      : null;
    const loads = await nodeLoads(tx, { groupId: group?.id ?? null });
    const placedMembers = group ? loads.reduce((n, l) => n + l.groupMembers, 0) : 0;
    const decision = place(
      loads,
      {
        vcpus: cur.vcpus,
        memoryBytes: Number(cur.memoryBytes),
        diskBytes: Number(cur.diskBytes),
        cpuShare: cur.cpuShare,
        group: group ? { policy: group.policy, strict: group.strict, placedMembers } : undefined,
        nodeId: cur.requestedNodeId ?? undefined,
      },
      policy,
    );
    if (!decision.ok) return { vps: null, noCapacity: decision.summary };
    const node = loads.find((l) => l.id === decision.nodeId)!;
    // Its disk is made where the node keeps disks: on shared storage it outlives the node.
    const [storage, image] = await Promise.all([
      tx.node.findUniqueOrThrow({
        where: { id: decision.nodeId },
        select: { storageBackend: true, storageId: true },
      }),
      tx.image.findUniqueOrThrow({ where: { id: cur.imageId }, select: { rootfsPath: true } }),
    ]);
    const diskStorageId = storage.storageBackend === "shared" && image.rootfsPath ? storage.storageId : null;
    // Its address is allocated here, under the placement lock (kept if it has one already).
    const nic = await ensureNic(tx, cur, ctx.networkPool ?? DEFAULT_NETWORK_POOL);
    await moveVps(tx, cur, "provisioning", {
      actor: SYSTEM,
      type: "vps.placed",
      actionId: job.actionId,
      reason: null,
      set: { nodeId: decision.nodeId, epoch: { increment: 1 }, diskStorageId },
      details: {
        node: node.name,
        nodeId: node.id,
        score: decision.score,
        candidates: decision.candidates,
        mode: policy.mode,
        diskStorageId,
        ipv4: nic.ipv4,
      },
    });
    return { vps: await tx.vps.findUniqueOrThrow({ where: { id: v.id } }) };
  });
  if (result.noCapacity) throw new NoCapacity("NO_CAPACITY", result.noCapacity);
  return result.vps;
}

/** The VPS's NIC, allocated under the placement lock as placement does. */
export async function allocateNic(ctx: WorkerContext, v: Vps): Promise<Vps> {
  return ctx.db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${PLACEMENT_LOCK})`;
    const cur = await tx.vps.findUniqueOrThrow({ where: { id: v.id } });
    await ensureNic(tx, cur, ctx.networkPool ?? DEFAULT_NETWORK_POOL);
    return tx.vps.findUniqueOrThrow({ where: { id: v.id } });
  });
}

/** Gives up: removes any half-made VM, releases the reservation, and says why in the VPS. */
async function failProvision(ctx: WorkerContext, job: ProvisionJob, reason: string): Promise<void> {
  const { db } = ctx;
  const v = await db.vps.findUnique({ where: { id: job.vpsId } });
  if (!v || v.actionId !== job.actionId) return;
  if (v.nodeId) {
    const node = await db.node.findUnique({ where: { id: v.nodeId } });
    if (node) {
      await ctx.agents
        .forNode(node)
        .destroyVm({ vmId: v.id, epoch: v.epoch })
        .catch((err: unknown) => ctx.log.warn({ err, vps: v.id }, "could not clean up a failed VM"));
    }
  }
  await db.$transaction((tx) =>
    moveVps(tx, v, "error", {
      actor: SYSTEM,
      type: "vps.provision_failed",
      actionId: job.actionId,
      reason: `provisioning failed: ${reason}`,
      set: { ...CLEAR_ACTION, nodeId: null },
    }),
  );
  ctx.log.warn({ vps: v.id, reason }, "provisioning failed");
}
