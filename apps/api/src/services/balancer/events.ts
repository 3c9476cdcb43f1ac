import type { Prisma } from "../../db/client.js";
import { type Actor, recordEvent } from "../events.js";

/** Balancer decisions and settings changes are events on the resource ("balancer", "cluster"). */
export const BALANCER_RESOURCE = { type: "balancer", id: "cluster" } as const;

export async function recordBalancerEvent(
  db: Pick<Prisma.TransactionClient, "event">,
  e: { actor: Actor; type: string; message: string; details?: Record<string, unknown> },
): Promise<void> {
  await recordEvent(db, { ...e, resourceType: BALANCER_RESOURCE.type, resourceId: BALANCER_RESOURCE.id });
}
