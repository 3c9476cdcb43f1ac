import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { requireOperator, tokenPrincipal } from "../http/auth.js";
import { imageDto, planDto } from "../http/dto.js";
import { apiError } from "../http/errors.js";
import { afterCursor, decodeCursor, isAfter, orderForCursor, pageOf } from "../http/pagination.js";
import {
  CreateImageBody,
  CreatePlanBody,
  ERROR_RESPONSES,
  IdempotencyHeaders,
  IdParams,
  ImageSchema,
  PageQuery,
  PlanSchema,
  page,
} from "../http/schemas.js";
import { couldHoldWhere } from "../services/capacity.js";
import { actorOf, recordEvent } from "../services/events.js";
import { PlanCatalog } from "../services/plan-catalog.js";

const mib = (bytes: number | bigint) => `${Math.round(Number(bytes) / 2 ** 20)} MiB`;

function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "P2002";
}

/** Plans and images: everyone reads them; operators manage them. */
export const catalogRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;
  const plans = new PlanCatalog(db);

  /**
   * A plan no registered node could ever hold would only fail every create made with it. A region
   * without nodes yet (its catalogue is set up first) cannot tell, and takes it.
   */
  const refuseIfNoNodeCouldHold = async (size: z.infer<typeof CreatePlanBody>) => {
    const sized = { ...size, memoryBytes: BigInt(size.memoryBytes), diskBytes: BigInt(size.diskBytes) };
    const [nodes, fitting] = await Promise.all([
      db.node.findMany({
        where: { status: { not: "fenced" } },
        select: { cpus: true, memoryBytes: true, diskBytes: true },
        orderBy: { memoryBytes: "desc" },
        take: 1,
      }),
      db.node.count({ where: couldHoldWhere(sized, app.deps.policy) }),
    ]);
    const largest = nodes[0];
    if (!largest || fitting > 0) return;
    throw apiError(
      "NO_NODE_FITS",
      `no node could ever hold plan ${size.name} (${size.vcpus} vCPUs, ${mib(size.memoryBytes)} memory, ${mib(size.diskBytes)} disk): the node with the most memory has ${largest.cpus} CPUs, ${mib(largest.memoryBytes)} memory, ${mib(largest.diskBytes)} disk`,
      {
        field: "memoryBytes",
        largestNode: {
          cpus: largest.cpus,
          memoryBytes: Number(largest.memoryBytes),
          diskBytes: Number(largest.diskBytes),
        },
      },
    );
  };

  app.get(
    "/v1/plans",
    {
      schema: {
        tags: ["plans"],
        summary: "List plans",
        querystring: PageQuery,
        response: { 200: page(PlanSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      tokenPrincipal(req);
      const cursor = decodeCursor(req.query.cursor);
      const all = await plans.all();
      const from = cursor ? all.findIndex((r) => isAfter(r, cursor)) : 0;
      const rows = from < 0 ? [] : all.slice(from, from + req.query.limit + 1);
      return pageOf(rows, req.query.limit, planDto, (r) => r.createdAt);
    },
  );

  app.get(
    "/v1/plans/:id",
    {
      schema: {
        tags: ["plans"],
        summary: "Get a plan",
        params: IdParams,
        response: { 200: PlanSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      tokenPrincipal(req);
      const p = await db.plan.findUnique({ where: { id: req.params.id } });
      if (!p) throw apiError("PLAN_NOT_FOUND", `no plan ${req.params.id}`);
      return planDto(p);
    },
  );

  app.post(
    "/v1/plans",
    {
      config: { idempotent: true, operatorOnly: true },
      schema: {
        tags: ["plans"],
        summary: "Create a plan (operators)",
        description:
          "422 NO_NODE_FITS when no registered node, even empty, could hold a VPS of this plan (a region without nodes takes any plan).",
        headers: IdempotencyHeaders,
        body: CreatePlanBody,
        response: { 201: PlanSchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = requireOperator(req);
      await refuseIfNoNodeCouldHold(req.body);
      try {
        const plan = await db.$transaction(async (tx) => {
          const created = await tx.plan.create({
            data: {
              ...req.body,
              memoryBytes: BigInt(req.body.memoryBytes),
              diskBytes: BigInt(req.body.diskBytes),
            },
          });
          await recordEvent(tx, {
            actor: actorOf(p),
            resourceType: "plan",
            resourceId: created.id,
            type: "plan.created",
          });
          return created;
        });
        plans.changed();
        return reply.code(201).send(planDto(plan));
      } catch (err) {
        if (isUniqueViolation(err)) throw apiError("NAME_TAKEN", `a plan named ${req.body.name} exists`);
        throw err;
      }
    },
  );

  app.delete(
    "/v1/plans/:id",
    {
      config: { operatorOnly: true },
      schema: {
        tags: ["plans"],
        summary: "Delete an unused plan (operators)",
        params: IdParams,
        response: { 204: z.undefined(), ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = requireOperator(req);
      const plan = await db.plan.findUnique({ where: { id: req.params.id } });
      if (!plan) throw apiError("PLAN_NOT_FOUND", `no plan ${req.params.id}`);
      if ((await db.vps.count({ where: { planId: plan.id } })) > 0) {
        throw apiError("IN_USE", "VPSes (or their history) use this plan");
      }
      await db.$transaction([
        db.plan.delete({ where: { id: plan.id } }),
        db.event.create({
          data: {
            actorType: "token",
            actorId: p.tokenId,
            resourceType: "plan",
            resourceId: plan.id,
            type: "plan.deleted",
          },
        }),
      ]);
      plans.changed();
      return reply.code(204).send();
    },
  );

  app.get(
    "/v1/images",
    {
      schema: {
        tags: ["images"],
        summary: "List images (public ones and your project's)",
        querystring: PageQuery,
        response: { 200: page(ImageSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const visible = p.kind === "tenant" ? { OR: [{ projectId: null }, { projectId: p.projectId }] } : {};
      const rows = await db.image.findMany({
        where: { AND: [visible, afterCursor(decodeCursor(req.query.cursor))] },
        orderBy: orderForCursor(),
        take: req.query.limit + 1,
      });
      return pageOf(rows, req.query.limit, imageDto, (r) => r.createdAt);
    },
  );

  app.get(
    "/v1/images/:id",
    {
      schema: {
        tags: ["images"],
        summary: "Get an image",
        params: IdParams,
        response: { 200: ImageSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const i = await db.image.findUnique({ where: { id: req.params.id } });
      if (!i || (p.kind === "tenant" && i.projectId !== null && i.projectId !== p.projectId)) {
        throw apiError("IMAGE_NOT_FOUND", `no image ${req.params.id}`);
      }
      return imageDto(i);
    },
  );

  app.post(
    "/v1/images",
    {
      config: { idempotent: true, operatorOnly: true },
      schema: {
        tags: ["images"],
        summary: "Register a public image (operators)",
        description:
          "Paths are relative to each node's SKIFF_REPO_ROOT (or absolute); the files must exist on every node.",
        headers: IdempotencyHeaders,
        body: CreateImageBody,
        response: { 201: ImageSchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = requireOperator(req);
      try {
        const image = await db.$transaction(async (tx) => {
          if (req.body.isDefault)
            await tx.image.updateMany({ where: { isDefault: true }, data: { isDefault: false } });
          const created = await tx.image.create({ data: req.body });
          await recordEvent(tx, {
            actor: actorOf(p),
            resourceType: "image",
            resourceId: created.id,
            type: "image.created",
          });
          return created;
        });
        return reply.code(201).send(imageDto(image));
      } catch (err) {
        if (isUniqueViolation(err)) throw apiError("NAME_TAKEN", `an image named ${req.body.name} exists`);
        throw err;
      }
    },
  );
};
