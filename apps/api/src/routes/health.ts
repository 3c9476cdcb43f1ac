import { tlsRefusals } from "@skiff/pki";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { GaugeFamily } from "../http/metrics.js";
import { nodeLoads } from "../services/capacity.js";

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

  app.services.metrics.addCollector(
    async (): Promise<GaugeFamily[]> => [
      {
        name: "skiff_tls_refused_peers",
        help: "agents this process refused over TLS since it started (wrong-identity: the certificate names another node), by reason",
        samples: Object.entries(tlsRefusals()).map(([reason, value]) => ({ labels: { reason }, value })),
      },
    ],
  );

  app.services.metrics.addCollector(async (): Promise<GaugeFamily[]> => {
    const [byState, loads, counts, usage] = await Promise.all([
      db.vps.groupBy({ by: ["state"], _count: true }),
      nodeLoads(db),
      app.deps.queues.counts?.() ?? Promise.resolve({} as Record<string, Record<string, number>>),
      db.node.findMany({ select: { name: true, cpuPercent: true, memoryUsedBytes: true, vmCount: true } }),
    ]);
    const reported = (
      name: string,
      help: string,
      value: (u: (typeof usage)[number]) => number,
    ): GaugeFamily => ({
      name,
      help,
      samples: usage.map((u) => ({ labels: { node: u.name }, value: value(u) })),
    });
    const perNode = (
      name: string,
      help: string,
      value: (l: (typeof loads)[number]) => number,
    ): GaugeFamily => ({
      name,
      help,
      samples: loads.map((l) => ({ labels: { node: l.name }, value: value(l) })),
    });
    return [
      {
        name: "skiff_vps",
        help: "VPSes by state",
        samples: byState.map((s) => ({ labels: { state: s.state }, value: s._count })),
      },
      {
        name: "skiff_queue_jobs",
        help: "BullMQ jobs by queue and state",
        samples: Object.entries(counts).flatMap(([queue, c]) =>
          Object.entries(c).map(([state, value]) => ({ labels: { queue, state }, value })),
        ),
      },
      perNode("skiff_node_up", "1 when the node is ready (heartbeating, not fenced)", (l) =>
        l.status === "ready" ? 1 : 0,
      ),
      perNode("skiff_node_maintenance", "1 when the node is drained", (l) => (l.maintenance ? 1 : 0)),
      perNode("skiff_node_vps", "VPSes placed on the node", (l) => l.reserved.vpsCount),
      perNode("skiff_node_memory_bytes", "node memory capacity", (l) => l.memoryBytes),
      perNode("skiff_node_memory_reserved_bytes", "memory reserved by VPSes", (l) => l.reserved.memoryBytes),
      perNode(
        "skiff_node_cpu_share_reserved",
        "CPU share reserved by VPSes (100 = one core)",
        (l) => l.reserved.cpuShare,
      ),
      reported("skiff_node_cpu_percent", "host CPU busy, from the last heartbeat", (u) => u.cpuPercent),
      reported("skiff_node_memory_used_bytes", "host memory used, from the last heartbeat", (u) =>
        Number(u.memoryUsedBytes),
      ),
      reported("skiff_node_vms", "VMs the agent runs, from the last heartbeat", (u) => u.vmCount),
    ];
  });

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
