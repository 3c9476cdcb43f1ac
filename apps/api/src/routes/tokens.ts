import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { hashToken, newToken, tokenPrefix } from "../auth/tokens.js";
import { forgetToken, projectFilter, tokenPrincipal } from "../http/auth.js";
import { tokenDto } from "../http/dto.js";
import { apiError } from "../http/errors.js";
import { afterCursor, decodeCursor, orderForCursor, pageOf } from "../http/pagination.js";
import { idOrName } from "../http/refs.js";
import {
  CreatedToken,
  CreateTokenBody,
  ERROR_RESPONSES,
  IdempotencyHeaders,
  IdParams,
  PageQuery,
  page,
  TokenSchema,
  WhoAmI,
} from "../http/schemas.js";
import { actorOf, recordEvent } from "../services/events.js";

/**
 * API tokens. Tenants manage their project's tenant tokens; operators manage all, and alone may
 * create operator tokens. The secret is returned once, at creation; only its hash is kept.
 */
export const tokenRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;
  const tags = ["tokens"];

  app.get(
    "/v1/tokens",
    {
      schema: {
        tags,
        summary: "List tokens",
        querystring: PageQuery.extend({ projectId: z.uuid().optional() }),
        response: { 200: page(TokenSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const q = req.query;
      const rows = await db.apiToken.findMany({
        where: {
          ...projectFilter(p),
          ...(p.kind === "operator" && q.projectId ? { projectId: q.projectId } : {}),
          ...(p.kind === "tenant" ? { scope: "tenant" as const } : {}),
          ...afterCursor(decodeCursor(q.cursor)),
        },
        orderBy: orderForCursor(),
        take: q.limit + 1,
      });
      return pageOf(rows, q.limit, tokenDto, (t) => t.createdAt);
    },
  );

  app.post(
    "/v1/tokens",
    {
      config: { idempotent: true },
      schema: {
        tags,
        summary: "Create a token (the secret is in the answer, once)",
        headers: IdempotencyHeaders,
        body: CreateTokenBody,
        response: { 201: CreatedToken, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const p = tokenPrincipal(req);
      const b = req.body;
      if (b.project !== undefined && b.projectId !== undefined) {
        throw apiError("VALIDATION_FAILED", "give project or projectId, not both", { field: "project" });
      }
      const ref = b.project ?? b.projectId;
      const named = ref ? await db.project.findFirst({ where: idOrName(ref), select: { id: true } }) : null;
      if (ref && !named) throw apiError("INVALID_REFERENCE", `no project ${ref}`, { field: "project" });
      if (p.kind === "tenant" && (b.scope === "operator" || (named && named.id !== p.projectId))) {
        throw apiError("FORBIDDEN", "tenants may only create tenant tokens for their own project");
      }
      const projectId = p.kind === "tenant" ? p.projectId : (named?.id ?? null);
      if (b.scope === "tenant" && !projectId) {
        throw apiError("VALIDATION_FAILED", "a tenant token needs a project", { field: "project" });
      }
      const secret = newToken(b.scope);
      const row = await db.$transaction(async (tx) => {
        const t = await tx.apiToken.create({
          data: {
            name: b.name,
            prefix: tokenPrefix(secret),
            hash: hashToken(secret),
            scope: b.scope,
            projectId,
            expiresAt: b.expiresInDays ? new Date(Date.now() + b.expiresInDays * 86_400_000) : null,
          },
        });
        await recordEvent(tx, {
          projectId,
          actor: actorOf(p),
          resourceType: "token",
          resourceId: t.id,
          type: "token.created",
          details: { name: b.name, scope: b.scope },
        });
        return t;
      });
      return reply.code(201).send({ ...tokenDto(row), token: secret });
    },
  );

  app.get(
    "/v1/whoami",
    {
      schema: {
        tags,
        summary: "The token this request carries: its kind, name, project and expiry",
        response: { 200: WhoAmI, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const t = await db.apiToken.findUniqueOrThrow({
        where: { id: p.tokenId },
        select: { name: true, expiresAt: true, project: { select: { name: true } } },
      });
      return {
        kind: p.kind,
        tokenId: p.tokenId,
        tokenName: t.name,
        projectId: p.projectId,
        projectName: t.project?.name ?? null,
        expiresAt: t.expiresAt?.toISOString() ?? null,
      };
    },
  );

  app.delete(
    "/v1/tokens/:id",
    {
      schema: {
        tags,
        summary: "Revoke a token",
        params: IdParams,
        response: { 200: TokenSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const t = await db.apiToken.findFirst({
        where: {
          id: req.params.id,
          ...projectFilter(p),
          ...(p.kind === "tenant" ? { scope: "tenant" as const } : {}),
        },
      });
      if (!t) throw apiError("TOKEN_NOT_FOUND", `no token ${req.params.id}`);
      if (t.revokedAt) return tokenDto(t);
      const row = await db.$transaction(async (tx) => {
        const r = await tx.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() } });
        forgetToken(t.hash);
        await recordEvent(tx, {
          projectId: t.projectId,
          actor: actorOf(p),
          resourceType: "token",
          resourceId: t.id,
          type: "token.revoked",
        });
        return r;
      });
      return tokenDto(row);
    },
  );
};
