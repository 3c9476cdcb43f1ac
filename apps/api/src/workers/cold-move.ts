/**
 * A cold move: a stopped or suspended VPS goes to another node without a guest running. The
 * target agent pulls the VM from the source agent (ImportVm: disk and suspend snapshot copied, or
 * only the disk's ownership on shared storage); once the target holds it, the move is recorded
 * (the VPS's node and epoch in one transaction) and the source's copy destroyed.
 *
 * Never two copies a start could reach: until the record the VPS is held by the move and points
 * at its source; after it, the source's copy carries a stale epoch (destroyed here, or by the
 * heartbeat's stale-VM sweep when its agent does not answer). Never zero: the source's copy goes
 * only after the target's is recorded. Whatever breaks, or a run that finds the move already
 * started (its worker died), asks the target: it holds the VM (completed) or it discards what it
 * staged (rolled back).
 */
import { errorMessage } from "@skiff/common";
import type { AgentClient } from "../agents/agent-client.js";
import { isAgentError } from "../agents/agent-client.js";
import type { Migration, Node, Vps } from "../db/client.js";
import { SYSTEM } from "../services/events.js";
import { finishMigration } from "../services/migrations.js";
import { type Attempt, isLastAttempt, type WorkerContext } from "./context.js";
import { type MigrationRun, setState } from "./migration.js";
import { vmSpec } from "./provision.js";

export interface ColdMoveParties {
  readonly src: Node;
  readonly dst: Node;
  readonly agents: { readonly src: AgentClient; readonly dst: AgentClient };
}

/** Runs a cold move that holds its migration slot (state preparing). */
export async function runColdMove(
  ctx: WorkerContext,
  m: Migration,
  v: Vps,
  p: ColdMoveParties,
  attempt: Attempt,
): Promise<MigrationRun> {
  const image = await ctx.db.image.findUniqueOrThrow({ where: { id: v.imageId } });
  await setState(ctx, m, "precopy");
  let copied: { bytesCopied: number; diskInPlace: boolean };
  try {
    copied = await p.agents.dst.importVm({
      ref: { vmId: v.id, epoch: m.targetEpoch },
      spec: vmSpec(v, image),
      migrationId: m.id,
      sourceAgentAddress: p.src.grpcAddress,
      sourceEpoch: m.sourceEpoch,
      sourceNode: p.src.name,
    });
  } catch (err) {
    ctx.log.warn(
      { migrationId: m.id, err: errorMessage(err) },
      "cold move: import failed; asking the target",
    );
    const cause = isAgentError(err) ? { code: err.code, message: err.message } : undefined;
    return recoverColdMove(ctx, m, p, attempt, cause);
  }
  return complete(ctx, m, p, {
    bytesSent: BigInt(copied.bytesCopied),
    totalMs: Date.now() - (m.startedAt?.getTime() ?? Date.now()),
  });
}

/**
 * The outcome from the target: it holds the VM at the target epoch (completed) or not (it
 * discarded its staging; rolled back, the VPS stays on its source as it was).
 */
export async function recoverColdMove(
  ctx: WorkerContext,
  m: Migration,
  p: ColdMoveParties,
  attempt: Attempt,
  cause?: { code: string; message: string },
): Promise<MigrationRun> {
  let committed: boolean;
  try {
    committed = (await p.agents.dst.abortMigrationTarget(m.vpsId, m.id)).committed;
  } catch (err) {
    if (!isLastAttempt(attempt)) throw err; // the target may come back: ask again later
    await finishMigration(ctx.db, m.id, {
      state: "failed",
      actor: SYSTEM,
      errorCode: "MIGRATION_OUTCOME_UNKNOWN",
      error: `the target agent cannot say whether it took the VPS: ${errorMessage(err)}; the VPS stays recorded on its source`,
    });
    return "failed";
  }
  if (committed) return complete(ctx, m, p, {});
  const fresh = await ctx.db.migration.findUnique({
    where: { id: m.id },
    select: { cancelRequestedAt: true },
  });
  const cancelled = fresh?.cancelRequestedAt != null;
  await finishMigration(ctx.db, m.id, {
    state: "rolled_back",
    actor: SYSTEM,
    errorCode: cancelled ? "MIGRATION_CANCELLED" : (cause?.code ?? "MIGRATION_INTERRUPTED"),
    error: cancelled
      ? "cancelled"
      : `${cause?.message ?? "the move was interrupted"}; the VPS stayed on its source`,
  });
  return "rolled_back";
}

/** Records the move, points the network at the new node, and drops the source's stale copy. */
async function complete(
  ctx: WorkerContext,
  m: Migration,
  p: ColdMoveParties,
  stats: { bytesSent?: bigint; totalMs?: number },
): Promise<MigrationRun> {
  await finishMigration(ctx.db, m.id, { state: "completed", actor: SYSTEM, stats });
  await ctx.networkMap?.publish();
  try {
    await p.agents.src.destroyVm({ vmId: m.vpsId, epoch: m.sourceEpoch });
  } catch (err) {
    // Its epoch is stale now: the heartbeat's sweep destroys it when the source reports it.
    ctx.log.warn({ migrationId: m.id, err: errorMessage(err) }, "cold move: the source's copy stays for now");
  }
  return "completed";
}
