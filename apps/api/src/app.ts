import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import websocket from "@fastify/websocket";
import { isSkiffError, type Logger } from "@skiff/common";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  LogController,
} from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Redis } from "ioredis";
import { AgentCallError, type AgentDirectory } from "./agents/agent-client.js";
import type { NodeRevocations } from "./auth/node-revocations.js";
import type { Db } from "./db/client.js";
import type { ListVersionReader } from "./db/list-versions.js";
import type { PlacementPolicy } from "./domain/placement.js";
import { apiErrorOfAgent } from "./http/agent-errors.js";
import { rateLimitFor, rateLimitKey, registerAuth, wsProtocol } from "./http/auth.js";
import { apiError, errorBody, statusOf } from "./http/errors.js";
import { registerIdempotency } from "./http/idempotency.js";
import { holdWriteAnswers } from "./http/list-freshness.js";
import { MetricsRegistry } from "./http/metrics.js";
import { swaggerOptions } from "./http/openapi-doc.js";
import { BatchedRedisStore } from "./http/rate-limit-store.js";
import { serializerCompiler } from "./http/serializer.js";
import type { NetworkMapPublisher } from "./network/publisher.js";
import type { BullQueues, JobQueues } from "./queues.js";
import { balancerRoutes } from "./routes/balancer.js";
import { catalogRoutes } from "./routes/catalog.js";
import { consoleRoutes } from "./routes/console.js";
import { eventRoutes } from "./routes/events.js";
import { healthRoutes } from "./routes/health.js";
import { migrationRoutes } from "./routes/migrations.js";
import { networkRoutes } from "./routes/networks.js";
import { nodeRoutes } from "./routes/nodes.js";
import { projectRoutes } from "./routes/projects.js";
import { snapshotRoutes } from "./routes/snapshots.js";
import { sshKeyRoutes } from "./routes/ssh-keys.js";
import { tokenRoutes } from "./routes/tokens.js";
import { vpsRoutes } from "./routes/vps.js";
import { vpsChangeRoutes } from "./routes/vps-changes.js";
import { webRoutes } from "./routes/web.js";
import { NodeService, type StaleVm } from "./services/nodes.js";
import { VpsService } from "./services/vps.js";

export interface AppDeps {
  readonly db: Db;
  /** The lists' change counters, which decide when a kept page is sent again (http/page-cache.ts). */
  readonly listVersions: ListVersionReader;
  readonly queues: JobQueues & Partial<Pick<BullQueues, "counts" | "enqueueDestroyStale">>;
  readonly redis: Redis;
  readonly log: Logger;
  readonly agents: AgentDirectory;
  readonly policy: PlacementPolicy;
  readonly agentToken: string;
  readonly heartbeatIntervalMs: number;
  /** Requests a minute per tenant token; operators' and anonymous limits default to it. */
  readonly rateLimitPerMinute: number;
  readonly operatorRateLimitPerMinute?: number;
  /** Per client address, for requests without a valid token (guessing tokens is what it slows). */
  readonly anonymousRateLimitPerMinute?: number;
  /** Sends the network map to agents (registration with a new endpoint, heartbeats behind). */
  readonly networkMap?: NetworkMapPublisher;
  /** Every network's MTU (SKIFF_NETWORK_MTU), as GET /v1/networks shows it; Ethernet's 1500 when unset. */
  readonly networkMtu?: number;
  /** Stale VMs reported by nodes (default: a destroy-stale job, queues.ts). */
  readonly onStaleVm?: (vm: StaleVm) => Promise<void>;
  /**
   * Set with mutual TLS: agents must register and heartbeat with their node's certificate, not
   * revoked (http/agent-listener.ts serves them). Unset (SKIFF_TLS=off): the agent token alone.
   */
  readonly revocations?: NodeRevocations;
}

export interface AppServices {
  readonly vps: VpsService;
  readonly nodes: NodeService;
  readonly metrics: MetricsRegistry;
}

declare module "fastify" {
  interface FastifyInstance {
    services: AppServices;
    deps: AppDeps;
  }
}

export type App = FastifyInstance;

function containsNul(v: unknown, depth = 0): boolean {
  if (typeof v === "string") return v.includes("\u0000");
  if (depth > 32 || v === null || typeof v !== "object") return false;
  for (const [k, x] of Object.entries(v)) if (k.includes("\u0000") || containsNul(x, depth + 1)) return true;
  return false;
}

/** The HTTP API: plugins, one error shape, and a plugin per resource. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Agents heartbeat every second or two: per-request logs would drown everything else.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Behind a load balancer the client address comes from X-Forwarded-For.
    trustProxy: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const onStaleVm =
    deps.onStaleVm ??
    (async (vm: StaleVm) => {
      await deps.queues.enqueueDestroyStale?.(vm);
    });
  const metrics = new MetricsRegistry();
  app.decorate("deps", deps);
  app.decorate("services", {
    vps: new VpsService({ db: deps.db, queues: deps.queues, policy: deps.policy, log: deps.log }),
    nodes: new NodeService({
      db: deps.db,
      log: deps.log,
      heartbeatIntervalMs: deps.heartbeatIntervalMs,
      onStaleVm,
      networkMap: deps.networkMap,
      verifyIdentity: async (node) => (await deps.agents.verifyIdentity?.(node)) ?? "unverified",
      ...(deps.revocations ? { agentCertificates: { log: deps.log, revocations: deps.revocations } } : {}),
    }),
    metrics,
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply.code(400).send(
        errorBody("VALIDATION_FAILED", `invalid request ${err.validationContext ?? ""}`.trim(), {
          in: err.validationContext,
          issues: err.validation.map((v) => ({
            path: v.instancePath || "/",
            message: v.message ?? "invalid",
          })),
        }),
      );
    }
    if (err instanceof AgentCallError) {
      const mapped = apiErrorOfAgent(err);
      if (mapped.status >= 500) req.log.error({ err, url: req.url, method: req.method }, "agent call failed");
      return reply.code(mapped.status).send(errorBody(mapped.code, err.message, mapped.details));
    }
    if (isSkiffError(err)) {
      const status = statusOf(err.code);
      if (status !== undefined && status < 500) {
        return reply.code(status).send(errorBody(err.code, err.message, err.details));
      }
    }
    const status = err.statusCode ?? 500;
    if (status === 429) return reply.code(429).send(errorBody("RATE_LIMITED", err.message));
    if (status >= 400 && status < 500) {
      // Fastify's own client errors: bad JSON, wrong content type, body too large, ...
      const code =
        status === 413
          ? "PAYLOAD_TOO_LARGE"
          : status === 415
            ? "UNSUPPORTED_MEDIA_TYPE"
            : err.code === "FST_ERR_CTP_INVALID_JSON_BODY" ||
                err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ||
                err instanceof SyntaxError
              ? "INVALID_JSON"
              : "BAD_REQUEST";
      return reply.code(status).send(errorBody(code, err.message));
    }
    req.log.error({ err, url: req.url, method: req.method }, "request failed");
    return reply.code(500).send(errorBody("INTERNAL", "internal error; it has been logged"));
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorBody("NOT_FOUND", `no route ${req.method} ${req.url.split("?")[0]}`)),
  );

  await app.register(rateLimit, {
    // Not per route (route hooks run after the app's own, i.e. after authentication refused a bad
    // token, uncounted): one app-level hook ahead of authentication, added below.
    global: false,
    max: (_req, key) =>
      rateLimitFor(key, {
        perToken: deps.rateLimitPerMinute,
        perOperator: deps.operatorRateLimitPerMinute ?? deps.rateLimitPerMinute,
        perAddress: deps.anonymousRateLimitPerMinute ?? deps.rateLimitPerMinute,
      }),
    timeWindow: 60_000,
    // Counters in Redis, shared by the replicas, taken in batches (see rate-limit-store.ts).
    store: class extends BatchedRedisStore {
      constructor() {
        super(deps.redis, "skiff-ratelimit-");
      }
    },
    skipOnError: true,
    // Per valid token, else per client address (see rateLimitKey).
    keyGenerator: (req) => rateLimitKey(req, { db: deps.db, agentToken: deps.agentToken }),
    allowList: (req) => req.routeOptions.config?.auth === "public",
    errorResponseBuilder: (_req, ctx) => {
      const e = Object.assign(
        new Error(`rate limit exceeded: ${ctx.max} requests per minute; retry in ${ctx.after}`),
        {
          statusCode: 429,
        },
      );
      return e;
    },
  });

  await app.register(swagger, swaggerOptions);
  await app.register(swaggerUi, { routePrefix: "/docs" });
  await app.register(websocket, { options: { handleProtocols: wsProtocol } });

  // Hooks that must also cover the routes of the plugins registered below, in this order: every
  // request is counted first, so failed authentications are limited too.
  app.addHook("onRequest", app.rateLimit());
  registerAuth(app, { db: deps.db, agentToken: deps.agentToken });
  // PostgreSQL text cannot hold NUL: refuse it up front rather than fail in the database.
  app.addHook("preValidation", async (req) => {
    for (const [where, value] of [
      ["query", req.query],
      ["body", req.body],
      ["params", req.params],
    ] as const) {
      if (containsNul(value)) {
        throw apiError(
          "VALIDATION_FAILED",
          `invalid request ${where}: text must not contain NUL characters`,
          {
            in: where,
          },
        );
      }
    }
  });
  registerIdempotency(app, deps.db);
  // Lists may be a few milliseconds old; a write's answer waits that long (http/list-freshness.ts).
  holdWriteAnswers(app);
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    metrics.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(healthRoutes);
  await app.register(vpsRoutes);
  await app.register(consoleRoutes);
  await app.register(vpsChangeRoutes);
  await app.register(snapshotRoutes);
  await app.register(nodeRoutes);
  await app.register(catalogRoutes);
  await app.register(eventRoutes);
  await app.register(tokenRoutes);
  await app.register(sshKeyRoutes);
  await app.register(projectRoutes);
  await app.register(networkRoutes);
  await app.register(migrationRoutes);
  await app.register(balancerRoutes);
  await app.register(webRoutes);
  return app;
}
