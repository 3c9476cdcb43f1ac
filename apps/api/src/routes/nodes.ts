import { socketPeer } from "@skiff/pki";
import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { z } from "zod";
import { requireOperator } from "../http/auth.js";
import { nodeDto } from "../http/dto.js";
import { apiError } from "../http/errors.js";
import { PageCache, sendSerialized, serialized } from "../http/page-cache.js";
import { decodeCursor, pageOf } from "../http/pagination.js";
import {
  EmptyBody,
  ERROR_RESPONSES,
  HeartbeatBody,
  HeartbeatResponse,
  IdParams,
  ListNodesQuery,
  NodeSchema,
  page,
  RegisterNodeBody,
  RegisterNodeResponse,
  RevokeNodeBody,
} from "../http/schemas.js";
import { nodeLoads } from "../services/capacity.js";
import { actorOf } from "../services/events.js";
import { listNodes, reservationOf } from "../services/node-list.js";
import type { AgentCaller } from "../services/nodes.js";

const EMPTY = { vpsCount: 0, vcpus: 0, cpuShare: 0, memoryBytes: 0, diskBytes: 0 };

/** The certificate the agent's connection proved (on the agents' mutual-TLS listener). */
const callerOf = (req: FastifyRequest): AgentCaller => ({
  peer: socketPeer(req.raw.socket),
  address: req.ip,
});

const NodePage = page(NodeSchema);

export const nodeRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;
  const nodes = app.services.nodes;
  const tags = ["nodes"];
  // Pages kept while no node, VPS or migration target changed (http/page-cache.ts).
  const pages = new PageCache(() => app.deps.listVersions("nodes"));

  const withReservations = async (ids: string[]) => {
    const loads = await nodeLoads(db, { nodeIds: ids });
    return new Map(loads.map((l) => [l.id, l.reserved]));
  };

  app.get(
    "/v1/nodes",
    {
      config: { operatorOnly: true },
      schema: {
        tags,
        summary: "List nodes (operators)",
        querystring: ListNodesQuery,
        response: { 200: NodePage, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      requireOperator(req);
      const q = req.query;
      const f = {
        status: q.status,
        maintenance: q.maintenance,
        after: decodeCursor(q.cursor),
        take: q.limit + 1,
      };
      const body = await pages.get(JSON.stringify(f), async () => {
        const out: z.output<typeof NodePage> = pageOf(
          await listNodes(db, f),
          q.limit,
          (n) => nodeDto(n, reservationOf(n)),
          (n) => n.registeredAt,
        );
        return serialized(reply, out);
      });
      return sendSerialized(reply, body);
    },
  );

  app.get(
    "/v1/nodes/:id",
    {
      config: { operatorOnly: true },
      schema: {
        tags,
        summary: "Get a node (operators)",
        params: IdParams,
        response: { 200: NodeSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      requireOperator(req);
      const n = await db.node.findUnique({ where: { id: req.params.id } });
      if (!n) throw apiError("NODE_NOT_FOUND", `no node ${req.params.id}`);
      return nodeDto(n, (await withReservations([n.id])).get(n.id) ?? EMPTY);
    },
  );

  for (const [verb, on] of [
    ["drain", true],
    ["undrain", false],
  ] as const) {
    app.post(
      `/v1/nodes/:id/${verb}`,
      {
        config: { idempotent: true, operatorOnly: true },
        schema: {
          tags,
          summary: on ? "Put a node in maintenance (no new placements)" : "Return a node to service",
          params: IdParams,
          body: EmptyBody,
          response: { 200: NodeSchema, ...ERROR_RESPONSES },
        },
      },
      async (req) => {
        const p = requireOperator(req);
        const n = await nodes.setMaintenance(req.params.id, on, actorOf(p));
        return nodeDto(n, (await withReservations([n.id])).get(n.id) ?? EMPTY);
      },
    );
  }

  app.post(
    "/v1/nodes/:id/revoke",
    {
      config: { idempotent: true, operatorOnly: true },
      schema: {
        tags,
        summary: "Revoke a node for good (deleted, or fenced never to return)",
        description:
          "The node is fenced and every certificate naming it issued until now is refused: its registration, heartbeats and the API's calls to it. Only a node without VPSes, or one already fenced (409 NODE_NOT_EMPTY otherwise). To add a node under the name again, issue it a new certificate.",
        params: IdParams,
        body: RevokeNodeBody,
        response: { 200: NodeSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = requireOperator(req);
      const n = await nodes.revoke(req.params.id, req.body?.reason ?? "", actorOf(p));
      return nodeDto(n, (await withReservations([n.id])).get(n.id) ?? EMPTY);
    },
  );

  app.post(
    "/v1/nodes/register",
    {
      config: { auth: "agent" },
      schema: {
        tags: ["agents"],
        summary: "A node agent announces itself (node certificate and agent token)",
        description:
          "Upserts the node by name. With mutual TLS (the default) only on the agents' listener, with a certificate naming the node (403 NODE_IDENTITY_MISMATCH, NODE_REVOKED, AGENT_CERTIFICATE_REQUIRED). The answer's heartbeatIntervalMs is how often to POST heartbeats.",
        body: RegisterNodeBody,
        response: { 200: RegisterNodeResponse, ...ERROR_RESPONSES },
      },
    },
    async (req) => nodes.register(req.body, callerOf(req)),
  );

  app.post(
    "/v1/nodes/:id/heartbeat",
    {
      config: { auth: "agent" },
      schema: {
        tags: ["agents"],
        summary: "A node agent's periodic report (node certificate and agent token)",
        description:
          "404 NODE_NOT_FOUND means: register again. Certificates are checked as for registration.",
        params: IdParams,
        body: HeartbeatBody,
        response: { 200: HeartbeatResponse, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      await nodes.heartbeat(req.params.id, req.body, callerOf(req));
      return { ok: true as const, serverTimeMs: Date.now() };
    },
  );
};
