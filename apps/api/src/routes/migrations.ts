import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { Prisma } from "../db/client.js";
import { migrationStateOf } from "../domain/migration-state.js";
import { requireOperator } from "../http/auth.js";
import { migrationDto } from "../http/dto.js";
import { apiError } from "../http/errors.js";
import { afterCursor, decodeCursor, orderForCursor, pageOf } from "../http/pagination.js";
import { idOrName } from "../http/refs.js";
import {
  EmptyBody,
  ERROR_RESPONSES,
  IdempotencyHeaders,
  IdParams,
  ListMigrationsQuery,
  MigrateBody,
  MigrationSchema,
  page,
} from "../http/schemas.js";
import { actorOf } from "../services/events.js";
import { cancelMigration, type MigrationDeps, requestMigration } from "../services/migrations.js";

/** Live migrations (operators): start one, watch it, cancel it. */
export const migrationRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;
  const deps: MigrationDeps = app.deps;
  const tags = ["migrations"];
  const operator = { operatorOnly: true };

  app.post(
    "/v1/vps/:id/migrate",
    {
      config: { ...operator, idempotent: true },
      schema: {
        tags,
        summary: "Live-migrate a VPS to another node (operators)",
        description:
          "202 with the Migration (queued); the VPS goes `migrating` and holds the action until the migration ends: completed (it runs on the target, epoch + 1), rolled-back or failed (it stays on its source). Without targetNode the scheduler picks one. 422 NO_NODE_FITS when no node (or not the one named) can take it.",
        headers: IdempotencyHeaders,
        params: IdParams,
        body: MigrateBody,
        response: { 202: MigrationSchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = requireOperator(req);
      const b = req.body;
      let targetNodeId: string | undefined;
      if (b.targetNode) {
        const n = await db.node.findFirst({ where: idOrName(b.targetNode), select: { id: true } });
        if (!n) throw apiError("INVALID_REFERENCE", `no node ${b.targetNode}`, { field: "targetNode" });
        targetNodeId = n.id;
      }
      const m = await requestMigration(deps, {
        vpsId: req.params.id,
        targetNodeId,
        trigger: "manual",
        reason: b.reason,
        actor: actorOf(p),
        options: {
          maxDowntimeMs: b.maxDowntimeMs,
          bandwidthBytesPerSec: b.bandwidthBytesPerSec,
          maxRounds: b.maxRounds,
          timeoutMs: b.timeoutMs,
        },
      });
      return reply.code(202).send(migrationDto(m));
    },
  );

  app.get(
    "/v1/migrations",
    {
      config: operator,
      schema: {
        tags,
        summary: "List migrations (operators)",
        description: "Oldest first; active=true for those in flight.",
        querystring: ListMigrationsQuery,
        response: { 200: page(MigrationSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      requireOperator(req);
      const q = req.query;
      const where: Prisma.MigrationWhereInput = {
        ...(q.vpsId ? { vpsId: q.vpsId } : {}),
        ...(q.nodeId ? { OR: [{ sourceNodeId: q.nodeId }, { targetNodeId: q.nodeId }] } : {}),
        ...(q.state ? { state: migrationStateOf(q.state) } : {}),
        ...(q.active === undefined ? {} : q.active ? { finishedAt: null } : { finishedAt: { not: null } }),
        ...(q.trigger ? { trigger: q.trigger } : {}),
      };
      const rows = await db.migration.findMany({
        where: { AND: [where, afterCursor(decodeCursor(q.cursor))] },
        orderBy: orderForCursor(),
        take: q.limit + 1,
      });
      return pageOf(rows, q.limit, migrationDto, (m) => m.createdAt);
    },
  );

  app.get(
    "/v1/migrations/:id",
    {
      config: operator,
      schema: {
        tags,
        summary: "Get a migration (operators)",
        params: IdParams,
        response: { 200: MigrationSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      requireOperator(req);
      const m = await db.migration.findUnique({ where: { id: req.params.id } });
      if (!m) throw apiError("NOT_FOUND", `no migration ${req.params.id}`);
      return migrationDto(m);
    },
  );

  app.post(
    "/v1/migrations/:id/cancel",
    {
      config: { ...operator, idempotent: true },
      schema: {
        tags,
        summary: "Cancel a migration before its commit (operators)",
        description:
          "A queued migration ends rolled-back at once; a running one is asked to stop and ends rolled-back (or completed, if it was already past its commit). 409 INVALID_STATE once it ended.",
        params: IdParams,
        body: EmptyBody,
        response: { 202: MigrationSchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = requireOperator(req);
      return reply.code(202).send(migrationDto(await cancelMigration(deps, req.params.id, actorOf(p))));
    },
  );
};
