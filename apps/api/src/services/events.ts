import type { Prisma } from "../db/client.js";
import type { Principal } from "../http/auth.js";

/** Who caused an event: a token (person or script), a node agent, or the control plane itself. */
export interface Actor {
  readonly type: "token" | "agent" | "system";
  readonly id: string | null;
}

export const SYSTEM: Actor = { type: "system", id: null };

export function actorOf(p: Principal | null): Actor {
  if (!p) return SYSTEM;
  return p.kind === "agent" ? { type: "agent", id: null } : { type: "token", id: p.tokenId };
}

export interface EventInput {
  readonly projectId?: string | null;
  readonly actor: Actor;
  readonly resourceType:
    | "vps"
    | "node"
    | "project"
    | "token"
    | "plan"
    | "image"
    | "placement_group"
    | "migration"
    | "balancer"
    | "ssh_key";
  readonly resourceId: string;
  readonly type: string;
  readonly fromState?: string | null;
  readonly toState?: string | null;
  readonly message?: string;
  readonly details?: Record<string, unknown>;
}

type EventWriter = Pick<Prisma.TransactionClient, "event">;

/** Audit log entry. Call inside the transaction that makes the change, so both land or neither. */
export async function recordEvent(db: EventWriter, e: EventInput): Promise<void> {
  await db.event.create({
    data: {
      projectId: e.projectId ?? null,
      actorType: e.actor.type,
      actorId: e.actor.id,
      resourceType: e.resourceType,
      resourceId: e.resourceId,
      type: e.type,
      fromState: e.fromState ?? null,
      toState: e.toState ?? null,
      message: e.message ?? "",
      details: (e.details ?? {}) as Prisma.InputJsonValue,
    },
  });
}
