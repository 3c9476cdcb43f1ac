import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { projectFilter, requireOperator, tokenPrincipal } from "../http/auth.js";
import { placementGroupDto, projectDto } from "../http/dto.js";
import { apiError } from "../http/errors.js";
import { afterCursor, decodeCursor, orderForCursor, pageOf } from "../http/pagination.js";
import {
  CreatePlacementGroupBody,
  CreateProjectBody,
  ERROR_RESPONSES,
  IdempotencyHeaders,
  IdParams,
  PageQuery,
  PlacementGroupSchema,
  ProjectSchema,
  page,
} from "../http/schemas.js";
import { actorOf, recordEvent } from "../services/events.js";

function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "P2002";
}

/** Projects (tenants; operators create them and set quotas) and their placement groups. */
export const projectRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;

  app.get(
    "/v1/projects",
    {
      schema: {
        tags: ["projects"],
        summary: "List projects (tenants: their own)",
        querystring: PageQuery,
        response: { 200: page(ProjectSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const rows = await db.project.findMany({
        where: {
          ...(p.kind === "tenant" ? { id: p.projectId } : {}),
          ...afterCursor(decodeCursor(req.query.cursor)),
        },
        orderBy: orderForCursor(),
        take: req.query.limit + 1,
      });
      return pageOf(rows, req.query.limit, projectDto, (r) => r.createdAt);
    },
  );

  app.get(
    "/v1/projects/:id",
    {
      schema: {
        tags: ["projects"],
        summary: "Get a project",
        params: IdParams,
        response: { 200: ProjectSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const row = await db.project.findUnique({ where: { id: req.params.id } });
      if (!row || (p.kind === "tenant" && row.id !== p.projectId)) {
        throw apiError("PROJECT_NOT_FOUND", `no project ${req.params.id}`);
      }
      return projectDto(row);
    },
  );

  app.post(
    "/v1/projects",
    {
      config: { idempotent: true, operatorOnly: true },
      schema: {
        tags: ["projects"],
        summary: "Create a project (operators)",
        headers: IdempotencyHeaders,
        body: CreateProjectBody,
        response: { 201: ProjectSchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = requireOperator(req);
      const { name, quotas } = req.body;
      try {
        const row = await db.$transaction(async (tx) => {
          const created = await tx.project.create({
            data: {
              name,
              ...(quotas.maxVps !== undefined ? { maxVps: quotas.maxVps } : {}),
              ...(quotas.maxSnapshots !== undefined ? { maxSnapshots: quotas.maxSnapshots } : {}),
              ...(quotas.maxVcpus !== undefined ? { maxVcpus: quotas.maxVcpus } : {}),
              ...(quotas.maxMemoryBytes !== undefined
                ? { maxMemoryBytes: BigInt(quotas.maxMemoryBytes) }
                : {}),
            },
          });
          await recordEvent(tx, {
            projectId: created.id,
            actor: actorOf(p),
            resourceType: "project",
            resourceId: created.id,
            type: "project.created",
          });
          return created;
        });
        return reply.code(201).send(projectDto(row));
      } catch (err) {
        if (isUniqueViolation(err)) throw apiError("NAME_TAKEN", `a project named ${name} exists`);
        throw err;
      }
    },
  );

  app.patch(
    "/v1/projects/:id",
    {
      config: { operatorOnly: true },
      schema: {
        tags: ["projects"],
        summary: "Change a project's quotas (operators)",
        params: IdParams,
        body: z.object({ quotas: CreateProjectBody.shape.quotas }).strict(),
        response: { 200: ProjectSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = requireOperator(req);
      const q = req.body.quotas;
      const exists = await db.project.findUnique({ where: { id: req.params.id }, select: { id: true } });
      if (!exists) throw apiError("PROJECT_NOT_FOUND", `no project ${req.params.id}`);
      const row = await db.$transaction(async (tx) => {
        const r = await tx.project.update({
          where: { id: req.params.id },
          data: {
            ...(q.maxVps !== undefined ? { maxVps: q.maxVps } : {}),
            ...(q.maxSnapshots !== undefined ? { maxSnapshots: q.maxSnapshots } : {}),
            ...(q.maxVcpus !== undefined ? { maxVcpus: q.maxVcpus } : {}),
            ...(q.maxMemoryBytes !== undefined ? { maxMemoryBytes: BigInt(q.maxMemoryBytes) } : {}),
          },
        });
        await recordEvent(tx, {
          projectId: r.id,
          actor: actorOf(p),
          resourceType: "project",
          resourceId: r.id,
          type: "project.quotas_changed",
          details: q,
        });
        return r;
      });
      return projectDto(row);
    },
  );

  const pgTags = ["placement-groups"];
  app.get(
    "/v1/placement-groups",
    {
      schema: {
        tags: pgTags,
        summary: "List placement groups",
        querystring: PageQuery,
        response: { 200: page(PlacementGroupSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const rows = await db.placementGroup.findMany({
        where: { ...projectFilter(p), ...afterCursor(decodeCursor(req.query.cursor)) },
        orderBy: orderForCursor(),
        take: req.query.limit + 1,
      });
      return pageOf(rows, req.query.limit, placementGroupDto, (r) => r.createdAt);
    },
  );

  app.get(
    "/v1/placement-groups/:id",
    {
      schema: {
        tags: pgTags,
        summary: "Get a placement group",
        params: IdParams,
        response: { 200: PlacementGroupSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const g = await db.placementGroup.findFirst({ where: { id: req.params.id, ...projectFilter(p) } });
      if (!g) throw apiError("PLACEMENT_GROUP_NOT_FOUND", `no placement group ${req.params.id}`);
      return placementGroupDto(g);
    },
  );

  app.post(
    "/v1/placement-groups",
    {
      config: { idempotent: true },
      schema: {
        tags: pgTags,
        summary: "Create a placement group",
        description:
          "anti_affinity: members on different nodes; affinity: on the same node. Strict groups make placement fail rather than break the rule; soft ones only weigh against it.",
        headers: IdempotencyHeaders,
        body: CreatePlacementGroupBody,
        response: { 201: PlacementGroupSchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = tokenPrincipal(req);
      const b = req.body;
      if (p.kind === "tenant" && b.projectId && b.projectId !== p.projectId) {
        throw apiError("FORBIDDEN", "tenants create groups in their own project");
      }
      const projectId =
        p.kind === "tenant"
          ? p.projectId
          : (b.projectId ?? p.projectId ?? (await db.project.findUnique({ where: { name: "default" } }))?.id);
      if (!projectId) throw apiError("VALIDATION_FAILED", "projectId is required", { field: "projectId" });
      if (!(await db.project.findUnique({ where: { id: projectId }, select: { id: true } }))) {
        throw apiError("INVALID_REFERENCE", `no project ${projectId}`, { field: "projectId" });
      }
      try {
        const g = await db.$transaction(async (tx) => {
          const created = await tx.placementGroup.create({
            data: { projectId, name: b.name, policy: b.policy, strict: b.strict },
          });
          await recordEvent(tx, {
            projectId,
            actor: actorOf(p),
            resourceType: "placement_group",
            resourceId: created.id,
            type: "placement_group.created",
          });
          return created;
        });
        return reply.code(201).send(placementGroupDto(g));
      } catch (err) {
        if (isUniqueViolation(err)) throw apiError("NAME_TAKEN", `a placement group named ${b.name} exists`);
        throw err;
      }
    },
  );

  app.delete(
    "/v1/placement-groups/:id",
    {
      schema: {
        tags: pgTags,
        summary: "Delete an empty placement group",
        params: IdParams,
        response: { 204: z.undefined(), ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = tokenPrincipal(req);
      const g = await db.placementGroup.findFirst({ where: { id: req.params.id, ...projectFilter(p) } });
      if (!g) throw apiError("PLACEMENT_GROUP_NOT_FOUND", `no placement group ${req.params.id}`);
      if ((await db.vps.count({ where: { placementGroupId: g.id, state: { not: "deleted" } } })) > 0) {
        throw apiError("IN_USE", "the group still has VPSes");
      }
      await db.$transaction(async (tx) => {
        await tx.placementGroup.delete({ where: { id: g.id } });
        await recordEvent(tx, {
          projectId: g.projectId,
          actor: actorOf(p),
          resourceType: "placement_group",
          resourceId: g.id,
          type: "placement_group.deleted",
        });
      });
      return reply.code(204).send();
    },
  );
};
