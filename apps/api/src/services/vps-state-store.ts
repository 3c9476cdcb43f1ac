import type { Prisma } from "../db/client.js";
import { assertTransition, type VpsState } from "../domain/vps-state.js";
import { type Actor, recordEvent } from "./events.js";

type Tx = Prisma.TransactionClient;

export interface MoveOptions {
  readonly actor: Actor;
  /** Event type (default "vps.state_changed"). */
  readonly type?: string;
  readonly reason?: string | null;
  /** Other columns to set in the same update (e.g. clearing the action, placing on a node). */
  readonly set?: Prisma.VpsUncheckedUpdateManyInput;
  /**
   * Only move if the row still carries this action id: a worker finishing an action that was
   * superseded (or retried elsewhere) must not overwrite newer state.
   */
  readonly actionId?: string | null;
  readonly details?: Record<string, unknown>;
}

/**
 * The one way a VPS changes state: checks the transition table, updates only if the row is still
 * in the state the caller saw (optimistic concurrency), and records the event in the same
 * transaction. Returns false when the row moved on in between (the caller lost a race).
 */
export async function moveVps(
  tx: Tx,
  vps: { id: string; projectId: string; state: VpsState },
  to: VpsState,
  opts: MoveOptions,
): Promise<boolean> {
  assertTransition(vps.state, to);
  const where: Prisma.VpsWhereInput = { id: vps.id, state: vps.state };
  if (opts.actionId !== undefined) where.actionId = opts.actionId;
  const data: Prisma.VpsUncheckedUpdateManyInput = { ...opts.set, state: to };
  if (opts.reason !== undefined) data.stateReason = opts.reason;
  const { count } = await tx.vps.updateMany({ where, data });
  if (count === 0) return false;
  await recordEvent(tx, {
    projectId: vps.projectId,
    actor: opts.actor,
    resourceType: "vps",
    resourceId: vps.id,
    type: opts.type ?? "vps.state_changed",
    fromState: vps.state,
    toState: to,
    message: opts.reason ?? "",
    details: opts.details,
  });
  return true;
}
