import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Prisma } from "../db/client.js";
import { tokenPrincipal } from "../http/auth.js";
import { eventDto } from "../http/dto.js";
import { apiError } from "../http/errors.js";
import { ERROR_RESPONSES, EventSchema, ListEventsQuery, page } from "../http/schemas.js";

/** Event ids are PostgreSQL bigints: 19 digits can still overflow one (PostgreSQL would answer 500). */
export const MAX_EVENT_ID = 2n ** 63n - 1n;

/** An event id from a cursor or afterId; anything else is a client error, not a database one. */
export function eventIdOf(raw: string): bigint {
  const id = /^\d{1,19}$/.test(raw) ? BigInt(raw) : -1n;
  if (id < 0n || id > MAX_EVENT_ID) throw apiError("INVALID_CURSOR", "cursor is not one this API produced");
  return id;
}

/**
 * The audit log, oldest first. Cursors are event ids; to follow the log, poll with
 * `afterId=<id of the last event seen>`.
 */
export const eventRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;
  app.get(
    "/v1/events",
    {
      schema: {
        tags: ["events"],
        summary: "List events (audit log and state changes)",
        description:
          "Oldest first. Filter by resourceType, resourceId, type, since. To follow, poll with afterId = the id of the last event seen.",
        querystring: ListEventsQuery,
        response: { 200: page(EventSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const q = req.query;
      const raw = q.cursor ?? q.afterId;
      const after = raw === undefined ? undefined : eventIdOf(raw);
      const where: Prisma.EventWhereInput = {
        ...(p.kind === "tenant" ? { projectId: p.projectId } : q.projectId ? { projectId: q.projectId } : {}),
        ...(q.resourceType ? { resourceType: q.resourceType } : {}),
        ...(q.resourceId ? { resourceId: q.resourceId } : {}),
        ...(q.type ? { type: q.type } : {}),
        ...(q.since ? { at: { gte: new Date(q.since) } } : {}),
        ...(after !== undefined ? { id: { gt: after } } : {}),
      };
      const rows = await db.event.findMany({ where, orderBy: { id: "asc" }, take: q.limit + 1 });
      const more = rows.length > q.limit;
      const items = (more ? rows.slice(0, q.limit) : rows).map(eventDto);
      return { items, nextCursor: more ? items[items.length - 1]!.id : null };
    },
  );
};
