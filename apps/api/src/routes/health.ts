import { tlsRefusals } from "@skiff/pki";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { processCollector, regionCollector } from "../http/collectors.js";
import type { GaugeFamily } from "../http/metrics.js";

/** Liveness, readiness, Prometheus metrics and the OpenAPI document: no token needed. */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, redis } = app.deps;
  const pub = { auth: "public" as const };

  app.get(
    "/healthz",
    {
      config: pub,
      schema: {
        tags: ["health"],
        summary: "The process is alive",
        security: [],
        response: { 200: z.object({ status: z.literal("ok") }) },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      config: pub,
      schema: {
        tags: ["health"],
        summary: "PostgreSQL and Redis answer",
        security: [],
        response: {
          200: z.object({
            status: z.enum(["ready", "unavailable"]),
            checks: z.record(z.string(), z.string()),
          }),
          503: z.object({
            status: z.enum(["ready", "unavailable"]),
            checks: z.record(z.string(), z.string()),
          }),
        },
      },
    },
    async (_req, reply) => {
      const checks: Record<string, string> = {};
      const timeout = <T>(p: Promise<T>) =>
        Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error("timeout")), 2000))]);
      await timeout(db.$queryRaw`SELECT 1`).then(
        () => (checks.postgres = "ok"),
        (e: Error) => (checks.postgres = e.message),
      );
      await timeout(redis.ping()).then(
        () => (checks.redis = "ok"),
        (e: Error) => (checks.redis = e.message),
      );
      const ok = Object.values(checks).every((c) => c === "ok");
      return reply.code(ok ? 200 : 503).send({ status: ok ? "ready" : "unavailable", checks });
    },
  );

  const proc = processCollector();
  app.addHook("onClose", async () => proc.stop());
  app.services.metrics.addCollector(proc.collect);
  app.services.metrics.addCollector(
    regionCollector({ db, queues: app.deps.queues, usage: app.services.nodes.usage }),
  );
  // Peers refused over TLS: by this process (an agent whose certificate names another node, or a
  // revoked one), and by each node's agent as its last heartbeat to this process said.
  app.services.metrics.addCollector(
    async (): Promise<GaugeFamily[]> => [
      {
        name: "skiff_tls_refused_peers",
        help: "TLS peers this API process refused since it started, by reason",
        samples: Object.entries(tlsRefusals()).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      {
        name: "skiff_node_tls_refused_peers",
        help: "TLS peers a node's agent refused since it started, by reason (from its last heartbeat)",
        samples: [...app.services.nodes.tlsRefusals].flatMap(([node, byReason]) =>
          Object.entries(byReason).map(([reason, value]) => ({ labels: { node, reason }, value })),
        ),
      },
    ],
  );

  app.get(
    "/metrics",
    {
      config: pub,
      schema: {
        tags: ["health"],
        summary: "Prometheus metrics (text exposition format 0.0.4)",
        description:
          "Counters and histograms of HTTP requests and migrations, the process (event-loop lag, heap), VPSes by state, queues, and per node and per VPS gauges. Not JSON: `text/plain; version=0.0.4`.",
        security: [],
      },
    },
    async (_req, reply) => {
      reply.type("text/plain; version=0.0.4; charset=utf-8");
      return app.services.metrics.render();
    },
  );

  app.get("/openapi.json", { config: pub, schema: { hide: true } }, async () => app.swagger());
};
