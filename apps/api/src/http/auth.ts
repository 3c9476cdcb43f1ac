import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { TokenCache } from "../auth/token-cache.js";
import { hashToken } from "../auth/tokens.js";
import type { ApiToken, Db } from "../db/client.js";
import { apiError } from "./errors.js";

/** Who is calling. Tenants are bound to one project; operators see every project. */
export type Principal =
  | { readonly kind: "operator"; readonly tokenId: string; readonly projectId: string | null }
  | { readonly kind: "tenant"; readonly tokenId: string; readonly projectId: string }
  | { readonly kind: "agent" };

export type TokenPrincipal = Exclude<Principal, { kind: "agent" }>;

/** Per route: `public` needs nothing, `agent` takes the agents' shared secret (or an operator). */
export type AuthMode = "public" | "agent" | "token";

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
    /** Mutating routes that honour the Idempotency-Key header. */
    idempotent?: boolean;
    /** Operator-only routes: tenants get 403 before their request is even validated. */
    operatorOnly?: boolean;
  }
}

/**
 * Browsers cannot set headers on a WebSocket, and a token in its URL would end up in logs: they
 * offer `skiff.console` and `skiff.token.<token>` as subprotocols; the answer names only the first.
 */
export const WS_PROTOCOL = "skiff.console";
const WS_TOKEN_PREFIX = "skiff.token.";

/** For the WebSocket server: the subprotocol it answers with, never the one carrying the token. */
export function wsProtocol(offered: Set<string>): string | false {
  return offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}

export function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h) return /^Bearer\s+(\S+)\s*$/i.exec(h)?.[1];
  const offered = req.headers["sec-websocket-protocol"];
  if (req.headers.upgrade?.toLowerCase() !== "websocket" || typeof offered !== "string") return undefined;
  for (const p of offered.split(",")) {
    const t = p.trim();
    if (t.startsWith(WS_TOKEN_PREFIX) && t.length > WS_TOKEN_PREFIX.length)
      return t.slice(WS_TOKEN_PREFIX.length);
  }
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}

/** Don't write on every request: last-used is advisory, a minute's precision is plenty. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Token lookups are cached briefly per process (auth/token-cache.ts): a request then costs no
 * database round trip for auth, and the tokens in use are read again behind their requests.
 * Revocation is immediate in the process that revokes, and takes at most TOKEN_CACHE_MS in other
 * API replicas.
 */
export const TOKEN_CACHE_MS = 2000;
const tokenCache = new TokenCache<ApiToken>(TOKEN_CACHE_MS);

export function forgetToken(hash: string | undefined): void {
  tokenCache.forget(hash);
}

function lookupToken(db: Db, hash: string, now: number): Promise<ApiToken | null> {
  return tokenCache.lookup(hash, now, (hashes) =>
    db.apiToken.findMany({ where: { hash: { in: [...hashes] } } }),
  );
}

function usable(row: ApiToken | null, now: number): row is ApiToken {
  return !!row && !row.revokedAt && !(row.expiresAt && row.expiresAt.getTime() <= now);
}

/**
 * Why a token is refused. Saying revoked or expired tells nothing to a guesser: only whoever holds
 * the secret can learn it, and they need to know whether to ask for a new one or fix a typo.
 */
export function refusal(row: ApiToken | null, now: number): { message: string; reason: string } {
  if (!row) return { message: "unknown token (mistyped, or from another region)", reason: "unknown" };
  if (row.revokedAt) {
    return { message: `token ${row.name} was revoked at ${row.revokedAt.toISOString()}`, reason: "revoked" };
  }
  if (row.expiresAt && row.expiresAt.getTime() <= now) {
    return { message: `token ${row.name} expired at ${row.expiresAt.toISOString()}`, reason: "expired" };
  }
  return { message: "token accepted", reason: "none" };
}

/**
 * Whom a request counts against for rate limiting. The limiter runs before authentication, so it
 * checks the token itself (the same cached lookup authentication then reuses): a token that
 * authenticates has its own bucket (`op:` or `t:` + its id, so operators can be given more); a
 * missing, unknown, revoked or expired one counts against the client address. Keyed on whatever
 * token was sent, a client rotating made-up tokens would get a fresh bucket each time, and could
 * guess tokens without limit.
 */
export async function rateLimitKey(
  req: FastifyRequest,
  deps: { db: Db; agentToken: string },
): Promise<string> {
  const token = bearerToken(req);
  if (!token || req.routeOptions.config?.auth === "public") return `ip:${req.ip}`;
  // Every agent presents the one shared secret: per address, or a large region's heartbeats would
  // share one bucket.
  if (deps.agentToken && sameSecret(token, deps.agentToken)) return `agent:${req.ip}`;
  try {
    const now = Date.now();
    const row = await lookupToken(deps.db, hashToken(token), now);
    if (usable(row, now)) return `${row.scope === "operator" ? "op" : "t"}:${row.id}`;
  } catch {
    // The database is unreachable: authentication will answer; limit by address meanwhile.
  }
  return `ip:${req.ip}`;
}

export function registerAuth(app: FastifyInstance, deps: { db: Db; agentToken: string }): void {
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (req) => {
    const url = req.routeOptions.url;
    const mode: AuthMode = req.routeOptions.config?.auth ?? "token";
    // Unmatched routes reach the 404 handler; Swagger UI's own routes are public documentation.
    if (mode === "public" || !url || url === "/docs" || url.startsWith("/docs/")) return;
    const token = bearerToken(req);
    if (!token) throw apiError("UNAUTHENTICATED", "missing bearer token (Authorization: Bearer <token>)");
    if (mode === "agent" && deps.agentToken && sameSecret(token, deps.agentToken)) {
      req.principal = { kind: "agent" };
      return;
    }
    const now = Date.now();
    const row = await lookupToken(deps.db, hashToken(token), now);
    if (!usable(row, now)) {
      const why = refusal(row, now);
      throw apiError("UNAUTHENTICATED", why.message, { reason: why.reason });
    }
    if (row.scope === "operator") {
      req.principal = { kind: "operator", tokenId: row.id, projectId: row.projectId };
    } else {
      if (!row.projectId) throw apiError("UNAUTHENTICATED", "tenant token without a project");
      req.principal = { kind: "tenant", tokenId: row.id, projectId: row.projectId };
    }
    if (row.scope !== "operator" && (mode === "agent" || req.routeOptions.config?.operatorOnly)) {
      throw apiError(
        "FORBIDDEN",
        mode === "agent" ? "this endpoint is for node agents and operators" : "operators only",
      );
    }
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      const used = new Date(now);
      row.lastUsedAt = used; // also in the cached row: one write per minute, not per request
      // Behind the request: advisory, not worth a commit's wait in a request's answer.
      deps.db.apiToken
        .update({ where: { id: row.id }, data: { lastUsedAt: used } })
        .catch((err: unknown) => req.log.warn({ err }, "could not record a token's last use"));
    }
  });
}

export function tokenPrincipal(req: FastifyRequest): TokenPrincipal {
  const p = req.principal;
  if (!p || p.kind === "agent") throw apiError("FORBIDDEN", "this endpoint needs an API token");
  return p;
}

export function requireOperator(req: FastifyRequest): TokenPrincipal & { kind: "operator" } {
  const p = tokenPrincipal(req);
  if (p.kind !== "operator") throw apiError("FORBIDDEN", "operators only");
  return p;
}

/** A Prisma `where` fragment limiting rows to what the caller may see. */
export function projectFilter(p: TokenPrincipal): { projectId?: string } {
  return p.kind === "tenant" ? { projectId: p.projectId } : {};
}

/** Requests a minute for a bucket of rateLimitKey: operators', tenants', or one address's. */
export function rateLimitFor(
  key: string,
  limits: { readonly perToken: number; readonly perOperator: number; readonly perAddress: number },
): number {
  if (key.startsWith("op:")) return limits.perOperator;
  if (key.startsWith("t:")) return limits.perToken;
  return limits.perAddress;
}
