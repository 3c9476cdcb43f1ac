import { randomUUID } from "node:crypto";
import type { Logger } from "@skiff/common";
import type { AgentDirectory } from "../agents/agent-client.js";
import type { Db, Migration, Prisma } from "../db/client.js";
import {
  assertMigrationTransition,
  isFinished,
  type MigrationState,
  migrationEventType,
  migrationStateName,
} from "../domain/migration-state.js";
import { type PlacementPolicy, place } from "../domain/placement.js";
import type { VpsState } from "../domain/vps-state.js";
import { apiError } from "../http/errors.js";
import type { JobQueues } from "../queues.js";
import { nodeLoads, PLACEMENT_LOCK } from "./capacity.js";
import { type Actor, recordEvent } from "./events.js";
import { moveVps } from "./vps-state-store.js";

type Tx = Prisma.TransactionClient;

export interface MigrationDeps {
  readonly db: Db;
  readonly queues: Pick<JobQueues, "enqueueMigration">;
  readonly policy: PlacementPolicy;
  readonly agents: AgentDirectory;
  readonly log: Logger;
}

export interface MigrationOptionsInput {
  readonly maxDowntimeMs?: number;
  readonly bandwidthBytesPerSec?: number;
  readonly maxRounds?: number;
  readonly timeoutMs?: number;
}

export interface MigrationRequest {
  readonly vpsId: string;
  /** The scheduler picks one (placement filters and weighers, the source excluded) when absent. */
  readonly targetNodeId?: string;
  /** manual, drain, balancer, recovery */
  readonly trigger: string;
  readonly reason?: string;
  readonly actor: Actor;
  readonly options?: MigrationOptionsInput;
}

/** States a VPS can be live-migrated from (the agent migrates running and paused VMs). */
const MIGRATABLE: readonly VpsState[] = ["running", "paused"];
/** States a VPS moves cold from: no VMM runs, its disk (and suspend snapshot) are copied. */
const COLD_MOVABLE: readonly VpsState[] = ["stopped", "suspended"];

/**
 * Starts a migration: live for a running or paused VPS, cold for a stopped or suspended one
 * (workers/cold-move.ts). Checks the VPS can move, picks or checks the target under the
 * placement lock (its size is reserved there from now on), records the Migration (queued), marks
 * the VPS holding the action `migrate` (and `migrating` when live), and enqueues the job. For
 * the API route, the balancer and drain alike. Throws SkiffError: VPS_NOT_FOUND, VPS_BUSY,
 * INVALID_STATE, NO_NODE_FITS, UNPROCESSABLE.
 */
export async function requestMigration(deps: MigrationDeps, req: MigrationRequest): Promise<Migration> {
  const { db, policy } = deps;
  const id = randomUUID();
  const m = await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${PLACEMENT_LOCK})`;
    const v = await tx.vps.findUnique({ where: { id: req.vpsId } });
    if (!v || v.state === "deleted") throw apiError("VPS_NOT_FOUND", `no VPS ${req.vpsId}`);
    if (v.action) {
      throw apiError("VPS_BUSY", `VPS is busy with ${v.action}; retry when it finishes`, {
        action: v.action,
        state: v.state,
      });
    }
    const cold = COLD_MOVABLE.includes(v.state);
    if ((!cold && !MIGRATABLE.includes(v.state)) || !v.nodeId) {
      throw apiError("INVALID_STATE", `cannot migrate a VPS that is ${v.state}`, {
        state: v.state,
        allowedFrom: [...MIGRATABLE, ...COLD_MOVABLE],
      });
    }
    const source = await tx.node.findUniqueOrThrow({ where: { id: v.nodeId } });
    if (source.status !== "ready") {
      throw apiError(
        "INVALID_STATE",
        `the VPS's node ${source.name} is ${source.status}: a migration reads the VPS from it`,
        {
          node: source.name,
        },
      );
    }
    if (req.targetNodeId === source.id) {
      throw apiError("UNPROCESSABLE", `the VPS already runs on ${source.name}`, { field: "targetNode" });
    }
    const group = v.placementGroupId
      ? await tx.placementGroup.findUnique({ where: { id: v.placementGroupId } })
      : null;
    const loads = await nodeLoads(tx, { groupId: group?.id ?? null });
    const members = loads.reduce((n, l) => n + l.groupMembers, 0);
    const decision = place(
      loads,
      {
        vcpus: v.vcpus,
        memoryBytes: Number(v.memoryBytes),
        diskBytes: Number(v.diskBytes),
        cpuShare: v.cpuShare,
        // The VPS itself sits on its source: it does not count against where it may go.
        group: group
          ? { policy: group.policy, strict: group.strict, placedMembers: Math.max(0, members - 1) }
          : undefined,
        nodeId: req.targetNodeId,
        excludeNodeIds: [source.id],
      },
      policy,
    );
    if (!decision.ok) {
      const target = req.targetNodeId ? loads.find((l) => l.id === req.targetNodeId) : undefined;
      if (req.targetNodeId && !target)
        throw apiError("INVALID_REFERENCE", `no node ${req.targetNodeId}`, { field: "targetNode" });
      throw apiError(
        "NO_NODE_FITS",
        target
          ? `node ${target.name} cannot take it: ${decision.rejected[target.name]}`
          : `no node can take it: ${decision.summary}`,
        { rejected: decision.rejected },
      );
    }
    const o = req.options ?? {};
    const created = await tx.migration.create({
      data: {
        id,
        vpsId: v.id,
        sourceNodeId: source.id,
        targetNodeId: decision.nodeId,
        trigger: req.trigger,
        reason: req.reason ?? null,
        sourceEpoch: v.epoch,
        targetEpoch: v.epoch + 1,
        vpsState: v.state,
        kind: cold ? "cold" : "live",
        maxDowntimeMs: o.maxDowntimeMs ?? null,
        bandwidthBytesPerSec: o.bandwidthBytesPerSec !== undefined ? BigInt(o.bandwidthBytesPerSec) : null,
        maxRounds: o.maxRounds ?? null,
        timeoutMs: o.timeoutMs ?? null,
      },
    });
    const target = loads.find((l) => l.id === decision.nodeId)!;
    // A cold move keeps the VPS stopped or suspended (no guest runs to show as migrating); the
    // action alone holds it.
    await moveVps(tx, v, cold ? v.state : "migrating", {
      actor: req.actor,
      type: "vps.migrate_requested",
      actionId: null,
      reason: null,
      set: { action: "migrate", actionId: id, actionStartedAt: new Date() },
      details: { migrationId: id, from: source.name, to: target.name, trigger: req.trigger, cold },
    });
    await recordEvent(tx, {
      projectId: v.projectId,
      actor: req.actor,
      resourceType: "migration",
      resourceId: id,
      type: "migration.queued",
      toState: "queued",
      message: req.reason ?? "",
      details: {
        vpsId: v.id,
        from: source.name,
        to: target.name,
        trigger: req.trigger,
        score: decision.score,
      },
    });
    return created;
  });
  try {
    await deps.queues.enqueueMigration({ migrationId: id });
  } catch (err) {
    deps.log.warn({ err, migrationId: id }, "enqueue failed; the reconcile job will retry it");
  }
  return m;
}

export interface FinishInput {
  readonly state: Extract<MigrationState, "completed" | "rolled_back" | "failed">;
  readonly actor: Actor;
  readonly errorCode?: string | null;
  readonly error?: string | null;
  readonly stats?: Partial<
    Pick<Migration, "downtimeMs" | "totalMs" | "throughputBytesPerSec" | "maxThrottlePercent" | "bytesSent">
  > & { rounds?: Prisma.InputJsonValue };
  /** What the VPS is now, when it is not simply back to what it was (e.g. error, unknown). */
  readonly vpsState?: VpsState;
}

/**
 * Ends a migration and releases the VPS in one transaction: completed moves the VPS to the target
 * node at the target epoch; otherwise it stays on its source. Idempotent: a finished migration
 * is left alone (returns false).
 */
export async function finishMigration(db: Db, migrationId: string, f: FinishInput): Promise<boolean> {
  return db.$transaction(async (tx) => finishIn(tx, migrationId, f));
}

/** Where a VPS of `imageId` placed on `nodeId` has its disk: the node's shared storage, or null. */
async function diskStorageOn(tx: Tx, nodeId: string, imageId: string): Promise<string | null> {
  const [node, image] = await Promise.all([
    tx.node.findUnique({ where: { id: nodeId }, select: { storageBackend: true, storageId: true } }),
    tx.image.findUnique({ where: { id: imageId }, select: { rootfsPath: true } }),
  ]);
  return node?.storageBackend === "shared" && image?.rootfsPath ? node.storageId : null;
}

export async function finishIn(tx: Tx, migrationId: string, f: FinishInput): Promise<boolean> {
  const m = await tx.migration.findUnique({ where: { id: migrationId } });
  if (!m || m.finishedAt) return false;
  assertMigrationTransition(m.state, f.state);
  // Conditional on still being open: of two racing finishers (worker, cancel) exactly one wins.
  const { count } = await tx.migration.updateMany({
    where: { id: m.id, finishedAt: null },
    data: {
      state: f.state,
      finishedAt: new Date(),
      errorCode: f.errorCode ?? null,
      error: f.error ?? null,
      ...(f.stats ?? {}),
    },
  });
  if (count === 0) return false;
  const v = await tx.vps.findUnique({ where: { id: m.vpsId } });
  if (v && v.actionId === m.id) {
    const back = (f.vpsState ?? m.vpsState) as VpsState;
    const completed = f.state === "completed";
    // The disk is where the target keeps disks now: its shared storage (the same file when the
    // source shares it, a copy otherwise), or its own disk.
    const diskStorageId = completed ? await diskStorageOn(tx, m.targetNodeId, v.imageId) : null;
    await moveVps(tx, v, back, {
      actor: f.actor,
      type: completed ? "vps.migrated" : "vps.migration_ended",
      actionId: m.id,
      reason: completed ? null : (f.error ?? null),
      set: {
        action: null,
        actionId: null,
        actionStartedAt: null,
        ...(completed ? { nodeId: m.targetNodeId, epoch: m.targetEpoch, diskStorageId } : {}),
      },
      details: { migrationId: m.id, outcome: f.state },
    });
  }
  await recordEvent(tx, {
    projectId: v?.projectId ?? null,
    actor: f.actor,
    resourceType: "migration",
    resourceId: m.id,
    type: migrationEventType(f.state),
    fromState: migrationStateName(m.state),
    toState: migrationStateName(f.state),
    message: f.error ?? "",
    details: {
      vpsId: m.vpsId,
      errorCode: f.errorCode ?? undefined,
      downtimeMs: f.stats?.downtimeMs ?? undefined,
      totalMs: f.stats?.totalMs ?? undefined,
    },
  });
  return true;
}

/**
 * Operator cancel. A queued migration ends at once (rolled back); a running one is asked to stop
 * on its source agent and ends rolled back (or completed, if it was already past its commit).
 */
export async function cancelMigration(
  deps: MigrationDeps,
  migrationId: string,
  actor: Actor,
): Promise<Migration> {
  const { db } = deps;
  const m = await db.migration.findUnique({ where: { id: migrationId } });
  if (!m) throw apiError("NOT_FOUND", `no migration ${migrationId}`);
  if (isFinished(m.state)) {
    throw apiError("INVALID_STATE", `the migration already ended (${migrationStateName(m.state)})`, {
      state: migrationStateName(m.state),
    });
  }
  if (m.state === "queued") {
    await finishMigration(db, m.id, {
      state: "rolled_back",
      actor,
      errorCode: "MIGRATION_CANCELLED",
      error: "cancelled before it started",
    });
  } else {
    await db.migration.update({ where: { id: m.id }, data: { cancelRequestedAt: new Date() } });
    if (m.kind === "cold") {
      // The target discards its import; the worker's call then fails and records the rollback.
      const target = await db.node.findUnique({ where: { id: m.targetNodeId } });
      if (target) {
        await deps.agents
          .forNode(target)
          .abortMigrationTarget(m.vpsId, m.id)
          .catch((err: unknown) =>
            deps.log.warn({ err, migrationId: m.id }, "cancel: target agent did not answer"),
          );
      }
      return db.migration.findUniqueOrThrow({ where: { id: m.id } });
    }
    const source = await db.node.findUnique({ where: { id: m.sourceNodeId } });
    if (source) {
      await deps.agents
        .forNode(source)
        .cancelMigration(m.vpsId, m.id)
        .catch((err: unknown) =>
          deps.log.warn({ err, migrationId: m.id }, "cancel: source agent did not answer"),
        );
    }
  }
  return db.migration.findUniqueOrThrow({ where: { id: m.id } });
}
