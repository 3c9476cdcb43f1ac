import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Db, Prisma } from "../db/client.js";
import { apiError } from "./errors.js";

/**
 * Idempotency-Key for mutating routes (route config `idempotent: true`). Per token: the first
 * request with a key runs and its answer (status and body) is stored; a retry with the same key
 * and the same request gets that answer again (header `Idempotent-Replayed: true`) without
 * running twice; the same key with a different request is refused (422); while the first is
 * still running, a retry gets 409. Server errors and conflicts are not stored, so they can be
 * retried under the same key. Keys expire after 24 hours.
 */

export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** A key left "in progress" this long belonged to a process that died mid-request. */
const ABANDONED_AFTER_MS = 60_000;

declare module "fastify" {
  interface FastifyRequest {
    idempotencyKeyId: string | null;
  }
}

function requestHash(req: FastifyRequest): string {
  return createHash("sha256")
    .update(JSON.stringify([req.method, req.url, req.body ?? null]))
    .digest("hex");
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "P2002";
}

export function registerIdempotency(app: FastifyInstance, db: Db): void {
  app.decorateRequest("idempotencyKeyId", null);

  app.addHook("preHandler", async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.routeOptions.config?.idempotent) return;
    const key = req.headers["idempotency-key"];
    if (key === undefined) return;
    const p = req.principal;
    if (!p || p.kind === "agent") return;
    if (typeof key !== "string" || !/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw apiError("VALIDATION_FAILED", "Idempotency-Key must be 1-255 printable ASCII characters", {
        header: "idempotency-key",
      });
    }
    const hash = requestHash(req);
    for (let tries = 0; tries < 3; tries++) {
      try {
        const row = await db.idempotencyKey.create({
          data: {
            tokenId: p.tokenId,
            key,
            method: req.method,
            path: req.url,
            requestHash: hash,
            expiresAt: new Date(Date.now() + IDEMPOTENCY_TTL_MS),
          },
        });
        req.idempotencyKeyId = row.id;
        return;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
      const existing = await db.idempotencyKey.findUnique({
        where: { tokenId_key: { tokenId: p.tokenId, key } },
      });
      if (!existing) continue; // removed in between: try to claim it again
      const abandoned =
        existing.statusCode === null && Date.now() - existing.createdAt.getTime() > ABANDONED_AFTER_MS;
      if (existing.expiresAt.getTime() <= Date.now() || abandoned) {
        await db.idempotencyKey.deleteMany({ where: { id: existing.id } });
        continue;
      }
      if (existing.requestHash !== hash) {
        throw apiError("IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used for a different request", {
          method: existing.method,
          path: existing.path,
        });
      }
      if (existing.statusCode === null) {
        throw apiError(
          "IDEMPOTENCY_IN_PROGRESS",
          "a request with this Idempotency-Key is still running; retry shortly",
        );
      }
      reply.header("idempotent-replayed", "true");
      reply.code(existing.statusCode).type("application/json; charset=utf-8");
      // The stored body is already the serialized answer; skip the route's serializer.
      reply.serializer((payload: unknown) => JSON.stringify(payload));
      return reply.send(existing.response);
    }
    throw apiError("IDEMPOTENCY_IN_PROGRESS", "could not claim the Idempotency-Key; retry");
  });

  app.addHook("onSend", async (req, reply, payload) => {
    const id = req.idempotencyKeyId;
    if (!id) return payload;
    req.idempotencyKeyId = null;
    const status = reply.statusCode;
    if (status >= 500 || status === 409 || status === 429 || typeof payload !== "string") {
      await db.idempotencyKey.deleteMany({ where: { id } });
      return payload;
    }
    let body: Prisma.InputJsonValue;
    try {
      body = JSON.parse(payload) as Prisma.InputJsonValue;
    } catch {
      await db.idempotencyKey.deleteMany({ where: { id } });
      return payload;
    }
    await db.idempotencyKey.update({ where: { id }, data: { statusCode: status, response: body } });
    return payload;
  });
}
