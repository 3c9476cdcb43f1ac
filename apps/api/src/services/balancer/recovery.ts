/**
 * Node failure. The node-health job marks a node whose heartbeats stop as unreachable (and its
 * VPSes unknown). Here, after a grace period on top of that deadline, the node is fenced, and:
 *
 * - a VPS that can live without the dead node — its image has no disk, or its disk is on shared
 *   storage (Vps.diskStorageId: the storage its node reported when the disk was made or moved
 *   there) — and that was running is cold-restarted elsewhere, exactly once: the move unknown →
 *   provisioning with a new node and epoch + 1 is one conditional update, and the provisioning job
 *   boots it there: a shared-disk VPS only on a node that mounts the same storage, from its disk
 *   (the agent refuses to make a fresh one, DISK_NOT_FOUND). The epoch bump is the revocation: the
 *   dead node's copy carries the old epoch, so when the node returns its VM is stale and is
 *   destroyed, never resumed (its agent keeps the shared disk); on the storage, the new epoch
 *   owns the disk, and a stale VMM still running there stops itself (the agents' disk leases).
 * - a VPS whose disk was local to the dead node stays down (unknown, with the reason) until the
 *   node returns: it is never silently recreated empty. Its epoch is kept, so the VM the node
 *   still holds, if any, is the one copy and comes back as it is.
 *
 * A fenced node that heartbeats again is readmitted once its reports show no stale VM left (the
 * heartbeat reconciler hands those to destroy-stale); VPSes it came back without are restarted
 * (if they can be) or marked as errors.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "@skiff/common";
import type { Db, Node, Prisma } from "../../db/client.js";
import { type PlacementPolicy, place } from "../../domain/placement.js";
import type { ProvisionJob } from "../../queues.js";
import { nodeLoads, PLACEMENT_LOCK } from "../capacity.js";
import { recordEvent, SYSTEM } from "../events.js";
import { moveVps } from "../vps-state-store.js";
import type { NodeReport, VmStatsStore } from "./vm-stats.js";

export interface RecoveryDeps {
  readonly db: Db;
  readonly log: Logger;
  readonly policy: PlacementPolicy;
  readonly stats: VmStatsStore;
  readonly enqueueProvision: (job: ProvisionJob) => Promise<void>;
  /** Heartbeat deadline: silent this long → unreachable (the node-health job's setting). */
  readonly deadAfterMs: number;
  /** Grace after the deadline before fencing (a node back within it just carries on). */
  readonly fenceAfterMs: number;
}

export interface RecoveryResult {
  readonly fenced: readonly string[];
  readonly restarted: readonly { vpsId: string; from: string; to: string }[];
  readonly down: readonly string[];
  readonly readmitted: readonly string[];
}

/** States a VPS was meant to be running in: those are restarted; stopped ones stay stopped (down). */
const WAS_RUNNING: readonly string[] = [
  "running",
  "paused",
  "starting",
  "rebooting",
  "restoring",
  "migrating",
  "provisioning",
];

export async function runRecovery(deps: RecoveryDeps, now = Date.now()): Promise<RecoveryResult> {
  const fenced = await fenceSilentNodes(deps, now);
  const readmitted = await readmitReturnedNodes(deps, now);
  const { restarted, down } = await recoverVpses(deps, now);
  return { fenced, restarted, down, readmitted };
}

async function fenceSilentNodes(deps: RecoveryDeps, now: number): Promise<string[]> {
  const { db } = deps;
  const cutoff = new Date(now - deps.deadAfterMs - deps.fenceAfterMs);
  const silent = await db.node.findMany({
    where: { status: "unreachable", OR: [{ lastHeartbeatAt: { lt: cutoff } }, { lastHeartbeatAt: null }] },
  });
  const out: string[] = [];
  for (const n of silent) {
    const done = await db.$transaction(async (tx) => {
      const { count } = await tx.node.updateMany({
        where: { id: n.id, status: "unreachable", lastHeartbeatAt: n.lastHeartbeatAt },
        data: { status: "fenced" },
      });
      if (count === 0) return false;
      await recordEvent(tx, {
        actor: SYSTEM,
        resourceType: "node",
        resourceId: n.id,
        type: "node.fenced",
        fromState: "unreachable",
        toState: "fenced",
        message: `no heartbeat since ${n.lastHeartbeatAt?.toISOString() ?? "registration"}: fenced; VPSes that can restart elsewhere get a new epoch there, so this node's copies are stale if it returns`,
        details: { storage: n.storageBackend, storageId: n.storageId },
      });
      return true;
    });
    if (done) {
      out.push(n.id);
      deps.log.warn({ node: n.name }, "node fenced");
    }
  }
  return out;
}

/** A VM the node reports that it must not run (its VPS is gone, elsewhere, or newer). */
async function staleVms(db: Db, nodeId: string, report: NodeReport): Promise<string[]> {
  if (report.vms.length === 0) return [];
  const rows = await db.vps.findMany({
    where: { id: { in: report.vms.map((v) => v.vmId) } },
    select: { id: true, nodeId: true, epoch: true, state: true },
  });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return report.vms
    .filter((vm) => {
      const v = byId.get(vm.vmId);
      return !v || v.state === "deleted" || v.nodeId !== nodeId || vm.epoch < v.epoch;
    })
    .map((vm) => vm.vmId);
}

async function readmitReturnedNodes(deps: RecoveryDeps, now: number): Promise<string[]> {
  const { db } = deps;
  const back = await db.node.findMany({
    where: { status: "fenced", lastHeartbeatAt: { gte: new Date(now - deps.deadAfterMs) } },
  });
  const out: string[] = [];
  for (const n of back) {
    const report = await deps.stats.get(n.id);
    // Wait for a report sent after it came back, and for its stale VMs to be destroyed.
    if (!report || report.at < (n.lastHeartbeatAt?.getTime() ?? now) - deps.deadAfterMs) continue;
    const stale = await staleVms(db, n.id, report);
    if (stale.length > 0) {
      deps.log.info(
        { node: n.name, stale: stale.length },
        "fenced node is back; waiting for its stale VMs to go",
      );
      continue;
    }
    const done = await db.$transaction(async (tx) => {
      const { count } = await tx.node.updateMany({
        where: { id: n.id, status: "fenced" },
        data: { status: "ready" },
      });
      if (count === 0) return false;
      await recordEvent(tx, {
        actor: SYSTEM,
        resourceType: "node",
        resourceId: n.id,
        type: "node.readmitted",
        fromState: "fenced",
        toState: "ready",
        message: "back: it holds no stale VM (those were destroyed, not resumed); in service again",
        details: { vms: report.vms.length },
      });
      return true;
    });
    if (done) {
      out.push(n.id);
      deps.log.info({ node: n.name }, "fenced node readmitted");
    }
  }
  return out;
}

/** The state a VPS was in before it became unknown (from its events). */
async function stateBeforeUnknown(db: Db, vpsId: string): Promise<string | null> {
  const e = await db.event.findFirst({
    where: { resourceType: "vps", resourceId: vpsId, toState: "unknown", NOT: { fromState: "unknown" } },
    orderBy: { id: "desc" },
    select: { fromState: true },
  });
  return e?.fromState ?? null;
}

async function recoverVpses(
  deps: RecoveryDeps,
  now: number,
): Promise<{ restarted: RecoveryResult["restarted"]; down: string[] }> {
  const { db } = deps;
  const restarted: { vpsId: string; from: string; to: string }[] = [];
  const down: string[] = [];
  // Unknown VPSes on fenced nodes, and on nodes that came back without them.
  const candidates = await db.vps.findMany({
    where: { state: "unknown", action: null, node: { status: { in: ["fenced", "ready"] } } },
    include: { node: true, image: { select: { rootfsPath: true } } },
  });
  const reports = await deps.stats.many([...new Set(candidates.map((v) => v.nodeId!))]);
  for (const v of candidates) {
    const node = v.node!;
    if (node.status === "ready") {
      // Back from unreachable: the heartbeat reconciler handles the VMs it reports. Here only
      // those a report newer than the VPS's last change does not hold (at this epoch).
      const r = reports.get(node.id);
      if (!r || r.at <= v.updatedAt.getTime() || r.at < now - deps.deadAfterMs) continue;
      if (r.vms.some((vm) => vm.vmId === v.id && vm.epoch === v.epoch)) continue;
    }
    const before = await stateBeforeUnknown(db, v.id);
    // Diskless, or its disk outlives the node on shared storage; a local disk is the node's.
    const disk: Disk = !v.image.rootfsPath
      ? "none"
      : v.diskStorageId
        ? { storageId: v.diskStorageId }
        : "local";
    const canRestart = disk !== "local";
    const wasRunning = before !== null && WAS_RUNNING.includes(before);
    if (canRestart && wasRunning) {
      const to = await restartElsewhere(deps, v.id, node, before, disk, now);
      if (to) restarted.push({ vpsId: v.id, from: node.name, to });
      continue;
    }
    const back = node.status === "ready";
    const why = back
      ? canRestart
        ? `node ${node.name} came back without this VPS, which was ${before ?? "not running"}; create it again`
        : `node ${node.name} came back without this VPS; its disk was local to that node`
      : canRestart
        ? `node ${node.name} failed and is fenced; the VPS was ${before ?? "not running"}: down until the node returns`
        : `node ${node.name} failed and is fenced; its disk is local to it: down until the node returns`;
    if (v.stateReason === why) continue;
    const said = await db.$transaction(async (tx) => {
      // Row lock, then look again: concurrent rounds say it once.
      await tx.$queryRaw`SELECT 1 FROM vps WHERE id = ${v.id}::uuid FOR UPDATE`;
      const cur = await tx.vps.findUnique({ where: { id: v.id } });
      if (!cur || cur.state !== "unknown" || cur.action || cur.stateReason === why) return false;
      return moveVps(tx, cur, back ? "error" : "unknown", {
        actor: SYSTEM,
        type: back ? "vps.lost" : "vps.down",
        reason: why,
        actionId: null,
        // Nothing of it is left on a node that came back without it: release its reservation.
        ...(back ? { set: { nodeId: null } } : {}),
        details: { node: node.name, stateBefore: before, localDisk: !canRestart, disk },
      });
    });
    if (said) down.push(v.id);
  }
  return { restarted, down };
}

/**
 * unknown → provisioning on another node with epoch + 1, in one transaction under the placement
 * lock; only if the row is still unknown on the dead node with no action (exactly once, however
 * many rounds race). Then the provisioning job creates and boots it there.
 */
/** Where a VPS's disk is, for recovery. */
type Disk = "none" | "local" | { readonly storageId: string };

async function restartElsewhere(
  deps: RecoveryDeps,
  vpsId: string,
  dead: Node,
  before: string,
  disk: Exclude<Disk, "local">,
  now: number,
): Promise<string | null> {
  const { db, policy } = deps;
  const actionId = randomUUID();
  const result = await db.$transaction(async (tx: Prisma.TransactionClient) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${PLACEMENT_LOCK})`;
    const cur = await tx.vps.findUnique({ where: { id: vpsId } });
    if (!cur || cur.state !== "unknown" || cur.nodeId !== dead.id || cur.action) return null;
    const group = cur.placementGroupId
      ? await tx.placementGroup.findUnique({ where: { id: cur.placementGroupId } })
      : null;
    let loads = await nodeLoads(tx, { groupId: group?.id ?? null });
    if (disk !== "none") {
      // Only where its disk is: nodes that mount the same shared storage.
      const sharers = await tx.node.findMany({ where: { storageId: disk.storageId }, select: { id: true } });
      const ids = new Set(sharers.map((n) => n.id));
      loads = loads.filter((l) => ids.has(l.id));
    }
    // The VPS still counts on the dead node; it does not hold a place in its group elsewhere.
    const members = loads.reduce((n, l) => n + (l.id === dead.id ? 0 : l.groupMembers), 0);
    const decision = place(
      loads,
      {
        vcpus: cur.vcpus,
        memoryBytes: Number(cur.memoryBytes),
        diskBytes: Number(cur.diskBytes),
        cpuShare: cur.cpuShare,
        group: group ? { policy: group.policy, strict: group.strict, placedMembers: members } : undefined,
        excludeNodeIds: dead.status === "ready" ? [] : [dead.id],
      },
      policy,
    );
    if (!decision.ok) {
      const why =
        loads.length === 0 || (loads.length === 1 && loads[0]!.id === dead.id && dead.status !== "ready")
          ? `node ${dead.name} failed; no other node mounts the shared storage its disk is on: down until one does or the node returns`
          : `node ${dead.name} failed; waiting for room elsewhere: ${decision.summary}`;
      if (cur.stateReason !== why) {
        await moveVps(tx, cur, "unknown", {
          actor: SYSTEM,
          type: "vps.recovery_waiting",
          reason: why,
          actionId: null,
        });
      }
      return null;
    }
    const target = loads.find((l) => l.id === decision.nodeId)!;
    const how = dead.status === "ready" ? "the node came back without it" : `node ${dead.name} failed`;
    const from = disk === "none" ? "" : " from its disk on shared storage";
    const moved = await moveVps(tx, cur, "provisioning", {
      actor: SYSTEM,
      type: "vps.recovered",
      actionId: null,
      reason: `${how}: cold-restarted on ${target.name}${from} (epoch ${cur.epoch} → ${cur.epoch + 1})`,
      set: {
        nodeId: target.id,
        epoch: { increment: 1 },
        action: "create",
        actionId,
        actionStartedAt: new Date(now),
      },
      details: {
        from: dead.name,
        fromNodeId: dead.id,
        to: target.name,
        toNodeId: target.id,
        stateBefore: before,
        epoch: cur.epoch + 1,
        disk: disk === "none" ? "none" : "shared",
        ...(disk !== "none" ? { storageId: disk.storageId } : {}),
      },
    });
    return moved ? target.name : null;
  });
  if (!result) return null;
  try {
    await deps.enqueueProvision({ vpsId, actionId });
  } catch (err) {
    // The row holds the action: the reconcile job enqueues it again.
    deps.log.warn({ err, vpsId }, "enqueue of a recovery failed; the reconcile job will retry it");
  }
  deps.log.warn({ vps: vpsId, from: dead.name, to: result }, "VPS cold-restarted after node failure");
  return result;
}
