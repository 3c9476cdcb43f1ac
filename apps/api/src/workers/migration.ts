import { errorMessage } from "@skiff/common";
import {
  type AgentClient,
  isAgentError,
  type MigrationResultInfo,
  type MigrationRoundInfo,
} from "../agents/agent-client.js";
import type { Migration, Prisma } from "../db/client.js";
import {
  assertMigrationTransition,
  type MigrationState,
  migrationStateName,
} from "../domain/migration-state.js";
import type { MigrationJob } from "../queues.js";
import { recordEvent, SYSTEM } from "../services/events.js";
import { finishMigration } from "../services/migrations.js";
import { recoverColdMove, runColdMove } from "./cold-move.js";
import { type Attempt, isLastAttempt, type WorkerContext } from "./context.js";
import { vmSpec } from "./provision.js";

/** Slots are handed out under this lock, so two workers cannot both take a node's last one. */
export const MIGRATION_SLOT_LOCK = 0x5c1ff002;

export type MigrationRun = "completed" | "rolled_back" | "failed" | "wait" | "superseded";

export interface MigrationWorkerOptions {
  /** In-flight migrations a node may take part in (as source or target). */
  readonly perNode: number;
}

const PHASE_STATE: Record<MigrationRoundInfo["phase"], MigrationState | null> = {
  precopy: "precopy",
  stopcopy: "stopcopy",
  committing: "committing",
  unknown: null,
};

const ORDER: readonly MigrationState[] = ["queued", "preparing", "precopy", "stopcopy", "committing"];

/**
 * One live migration (packages/migration/README.md): the destination prepares a shell, the source
 * streams to it (progress per round is recorded and is an event), and the outcome is written with
 * the VPS's new node and epoch in one transaction. A run that finds the migration already past
 * `queued` belongs to a worker that died: it never transfers again, it asks the agents what
 * happened and records that.
 */
export async function runMigration(
  ctx: WorkerContext,
  job: MigrationJob,
  attempt: Attempt,
  opts: MigrationWorkerOptions,
): Promise<MigrationRun> {
  const { db } = ctx;
  const m = await db.migration.findUnique({ where: { id: job.migrationId } });
  if (!m || m.finishedAt) return "superseded";
  const v = await db.vps.findUnique({ where: { id: m.vpsId } });
  if (!v || v.actionId !== m.id) {
    await finishMigration(db, m.id, {
      state: "failed",
      actor: SYSTEM,
      errorCode: "SUPERSEDED",
      error: "the VPS no longer holds this migration",
    });
    return "failed";
  }
  const [src, dst] = await Promise.all([
    db.node.findUniqueOrThrow({ where: { id: m.sourceNodeId } }),
    db.node.findUniqueOrThrow({ where: { id: m.targetNodeId } }),
  ]);
  const agents = { src: ctx.agents.forNode(src), dst: ctx.agents.forNode(dst) };

  const cold = { src, dst, agents };
  if (m.state !== "queued") {
    return m.kind === "cold" ? recoverColdMove(ctx, m, cold, attempt) : recover(ctx, m, agents, attempt);
  }
  if (m.cancelRequestedAt) {
    await finishMigration(db, m.id, {
      state: "rolled_back",
      actor: SYSTEM,
      errorCode: "MIGRATION_CANCELLED",
      error: "cancelled",
    });
    return "rolled_back";
  }
  if (!(await takeSlot(ctx, m, opts.perNode))) return "wait";
  if (m.kind === "cold") return runColdMove(ctx, m, v, cold, attempt);

  // preparing: the destination makes an empty shell waiting for the stream.
  const image = await db.image.findUniqueOrThrow({ where: { id: v.imageId } });
  let target: { streamAddress: string; token: string };
  try {
    target = await agents.dst.prepareMigrationTarget(
      { vmId: v.id, epoch: m.targetEpoch },
      vmSpec(v, image),
      m.id,
    );
  } catch (err) {
    await agents.dst.abortMigrationTarget(v.id, m.id).catch(() => undefined);
    await finishMigration(db, m.id, {
      state: "failed",
      actor: SYSTEM,
      errorCode: isAgentError(err) ? err.code : "MIGRATION_PREPARE_FAILED",
      error: `the target could not prepare: ${errorMessage(err)}`,
    });
    return "failed";
  }
  await setState(ctx, m, "precopy");

  let result: MigrationResultInfo | undefined;
  try {
    const stream = agents.src.migrateVm({
      ref: { vmId: v.id, epoch: m.sourceEpoch },
      migrationId: m.id,
      targetStreamAddress: target.streamAddress,
      token: target.token,
      targetEpoch: m.targetEpoch,
      targetAgentAddress: dst.grpcAddress,
      targetNode: dst.name,
      options: {
        maxDowntimeMs: m.maxDowntimeMs ?? undefined,
        bandwidthBytesPerSec: m.bandwidthBytesPerSec !== null ? Number(m.bandwidthBytesPerSec) : undefined,
        maxRounds: m.maxRounds ?? undefined,
        timeoutMs: m.timeoutMs ?? undefined,
      },
    });
    for await (const p of stream) {
      if (p.kind === "round") await recordRound(ctx, m, v.projectId, p.round);
      else if (p.kind === "phase") await enterPhase(ctx, m, p.phase);
      else result = p.result;
    }
  } catch (err) {
    // Refused before streaming (stale epoch, VM not running, a migration already running there):
    // nothing moved.
    if (
      isAgentError(err) &&
      !err.retryable &&
      ["STALE_EPOCH", "VM_NOT_FOUND", "INVALID_TRANSITION", "MIGRATION_IN_PROGRESS"].includes(err.code)
    ) {
      await agents.dst.abortMigrationTarget(v.id, m.id).catch(() => undefined);
      await finishMigration(db, m.id, {
        state: "failed",
        actor: SYSTEM,
        errorCode: err.code,
        error: err.message,
      });
      return "failed";
    }
    ctx.log.warn(
      { migrationId: m.id, err: errorMessage(err) },
      "migration stream ended without a result; asking the agents",
    );
    return recover(ctx, m, agents, attempt);
  }
  if (!result) return recover(ctx, m, agents, attempt);
  return settle(ctx, m, agents, result);
}

async function settle(
  ctx: WorkerContext,
  m: Migration,
  agents: { src: AgentClient; dst: AgentClient },
  r: MigrationResultInfo,
): Promise<MigrationRun> {
  const stats = r.stats
    ? {
        downtimeMs: r.stats.downtimeMs,
        totalMs: r.stats.totalMs,
        throughputBytesPerSec: r.stats.throughputBytesPerSec,
        maxThrottlePercent: r.stats.maxThrottlePercent,
        bytesSent: BigInt(Math.round(r.stats.bytesSent)),
        rounds: r.stats.rounds as unknown as Prisma.InputJsonValue,
      }
    : undefined;
  let outcome = r.outcome;
  if (outcome === "in-doubt") {
    // The commit's answer was lost: the destination knows; the source waits paused until told.
    const d = await agents.dst.abortMigrationTarget(m.vpsId, m.id);
    await agents.src.resolveMigration({ vmId: m.vpsId, epoch: m.sourceEpoch }, m.id, d.committed);
    outcome = d.committed ? "committed" : "rolled-back";
  }
  if (outcome === "committed") {
    await finishMigration(ctx.db, m.id, { state: "completed", actor: SYSTEM, stats });
    // The NIC's node changed at the commit: the switches must send its frames there now.
    await ctx.networkMap?.publish();
    return "completed";
  }
  if (outcome === "rolled-back") {
    await agents.dst.abortMigrationTarget(m.vpsId, m.id).catch(() => undefined);
    await finishMigration(ctx.db, m.id, {
      state: "rolled_back",
      actor: SYSTEM,
      errorCode: r.errorCode || "MIGRATION_ROLLED_BACK",
      error: r.errorMessage || "rolled back",
      stats,
    });
    return "rolled_back";
  }
  return recover(ctx, m, agents, { number: 1, max: 1 });
}

/**
 * Reconstructs the outcome from the agents (packages/migration/README.md, "Exactly one running copy"):
 * the destination says whether it committed (and discards its shell if not); otherwise the
 * source must still hold the VM, which is resumed if it waits in doubt.
 */
async function recover(
  ctx: WorkerContext,
  m: Migration,
  agents: { src: AgentClient; dst: AgentClient },
  attempt: Attempt,
): Promise<MigrationRun> {
  const fresh = await ctx.db.migration.findUniqueOrThrow({ where: { id: m.id } });
  if (fresh.finishedAt) return "superseded";
  let committed: boolean;
  try {
    committed = (await agents.dst.abortMigrationTarget(m.vpsId, m.id)).committed;
  } catch (err) {
    if (!isLastAttempt(attempt)) throw err; // the destination may come back: ask again later
    await finishMigration(ctx.db, m.id, {
      state: "failed",
      actor: SYSTEM,
      errorCode: "MIGRATION_OUTCOME_UNKNOWN",
      error: `the target agent cannot say whether the migration committed: ${errorMessage(err)}`,
      vpsState: "unknown",
    });
    return "failed";
  }
  if (committed) {
    await finishMigration(ctx.db, m.id, { state: "completed", actor: SYSTEM, error: null });
    await ctx.networkMap?.publish();
    return "completed";
  }
  let vm: Awaited<ReturnType<AgentClient["getVm"]>>;
  try {
    vm = await agents.src.getVm(m.vpsId);
  } catch (err) {
    if (!isLastAttempt(attempt)) throw err;
    // An unreachable source is not a lost VM: the node's next report (or its fencing) decides.
    await finishMigration(ctx.db, m.id, {
      state: "failed",
      actor: SYSTEM,
      errorCode: "MIGRATION_OUTCOME_UNKNOWN",
      error: `the target did not commit and the source agent cannot say what it holds: ${errorMessage(err)}`,
      vpsState: "unknown",
    });
    return "failed";
  }
  if (vm && vm.epoch === m.sourceEpoch) {
    if (vm.state === "paused" && m.vpsState === "running") {
      // Possibly held in doubt: the destination did not commit, so the source resumes.
      await agents.src
        .resolveMigration({ vmId: m.vpsId, epoch: m.sourceEpoch }, m.id, false)
        .catch(() => undefined);
    }
    const cancelled = fresh.cancelRequestedAt !== null;
    await finishMigration(ctx.db, m.id, {
      state: "rolled_back",
      actor: SYSTEM,
      errorCode: cancelled ? "MIGRATION_CANCELLED" : "MIGRATION_INTERRUPTED",
      error: cancelled ? "cancelled" : "the migration was interrupted; the VPS stayed on its source",
    });
    return "rolled_back";
  }
  await finishMigration(ctx.db, m.id, {
    state: "failed",
    actor: SYSTEM,
    errorCode: "MIGRATION_VM_LOST",
    error: "neither node holds the VM at the expected epoch",
    vpsState: "error",
  });
  return "failed";
}

/** Moves queued → preparing if both nodes have a free slot (in-flight migrations < perNode). */
async function takeSlot(ctx: WorkerContext, m: Migration, perNode: number): Promise<boolean> {
  return ctx.db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${MIGRATION_SLOT_LOCK})`;
    const busy = await tx.migration.groupBy({
      by: ["sourceNodeId", "targetNodeId"],
      where: {
        finishedAt: null,
        state: { not: "queued" },
        OR: [
          { sourceNodeId: { in: [m.sourceNodeId, m.targetNodeId] } },
          { targetNodeId: { in: [m.sourceNodeId, m.targetNodeId] } },
        ],
      },
      _count: true,
    });
    const count = (node: string) =>
      busy.reduce((n, b) => n + (b.sourceNodeId === node || b.targetNodeId === node ? b._count : 0), 0);
    if (count(m.sourceNodeId) >= perNode || count(m.targetNodeId) >= perNode) return false;
    const { count: moved } = await tx.migration.updateMany({
      where: { id: m.id, state: "queued", finishedAt: null },
      data: { state: "preparing", startedAt: new Date() },
    });
    if (moved === 0) return false;
    await recordEvent(tx, {
      actor: SYSTEM,
      resourceType: "migration",
      resourceId: m.id,
      type: "migration.state_changed",
      fromState: "queued",
      toState: "preparing",
      details: { vpsId: m.vpsId },
    });
    return true;
  });
}

export async function setState(ctx: WorkerContext, m: Migration, to: MigrationState): Promise<void> {
  await ctx.db.$transaction(async (tx) => {
    const cur = await tx.migration.findUniqueOrThrow({ where: { id: m.id } });
    if (cur.finishedAt || ORDER.indexOf(to) <= ORDER.indexOf(cur.state)) return;
    assertMigrationTransition(cur.state, to);
    await tx.migration.update({ where: { id: m.id }, data: { state: to } });
    await recordEvent(tx, {
      actor: SYSTEM,
      resourceType: "migration",
      resourceId: m.id,
      type: "migration.state_changed",
      fromState: migrationStateName(cur.state),
      toState: migrationStateName(to),
      details: { vpsId: m.vpsId },
    });
  });
}

async function enterPhase(
  ctx: WorkerContext,
  m: Migration,
  phase: MigrationRoundInfo["phase"],
): Promise<void> {
  const to = PHASE_STATE[phase];
  if (to) await setState(ctx, m, to);
}

/** A pre-copy round: appended to the migration (rounds, bytes) and published as an event. */
async function recordRound(
  ctx: WorkerContext,
  m: Migration,
  projectId: string,
  r: MigrationRoundInfo,
): Promise<void> {
  await enterPhase(ctx, m, r.phase);
  await ctx.db.$transaction(async (tx) => {
    await tx.$executeRaw`
      UPDATE migrations
      SET rounds = rounds || ${JSON.stringify([r])}::jsonb, bytes_sent = bytes_sent + ${Math.round(r.bytes)}
      WHERE id = ${m.id}::uuid AND finished_at IS NULL`;
    await recordEvent(tx, {
      projectId,
      actor: SYSTEM,
      resourceType: "migration",
      resourceId: m.id,
      type: "migration.round",
      message: `round ${r.round} (${r.phase}): ${r.pages} pages, ${r.bytes} bytes in ${r.ms.toFixed(1)} ms`,
      details: { ...r, vpsId: m.vpsId },
    });
  });
}
