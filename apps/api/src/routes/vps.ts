import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { z } from "zod";
import { tokenPrincipal } from "../http/auth.js";
import { vpsDto } from "../http/dto.js";
import { PageCache, sendSerialized, serialized } from "../http/page-cache.js";
import { pageOf } from "../http/pagination.js";
import {
  ActionParams,
  CreateVpsBody,
  EmptyBody,
  ERROR_RESPONSES,
  IdempotencyHeaders,
  IdParams,
  ListVpsQuery,
  page,
  Vps,
} from "../http/schemas.js";

const VpsPage = page(Vps);

export const vpsRoutes: FastifyPluginAsyncZod = async (app) => {
  const svc = app.services.vps;
  const tags = ["vps"];
  const mutating = { idempotent: true };
  // Pages kept while no VPS changed (http/page-cache.ts).
  const pages = new PageCache(() => app.deps.listVersions("vps"));

  app.post(
    "/v1/vps",
    {
      config: mutating,
      schema: {
        tags,
        summary: "Create a VPS",
        description:
          "Creates the VPS in state `pending` and queues its provisioning: placement on a node, then boot. Follow its state (GET) or the event stream. 422 NO_NODE_FITS when no node could ever hold the plan; 422 QUOTA_EXCEEDED past the project's quotas.",
        headers: IdempotencyHeaders,
        body: CreateVpsBody,
        response: { 202: Vps, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => reply.code(202).send(vpsDto(await svc.create(tokenPrincipal(req), req.body))),
  );

  app.get(
    "/v1/vps",
    {
      schema: {
        tags,
        summary: "List VPSes",
        description:
          "Oldest first; filter by state, node, name (operators: project). Deleted VPSes only with includeDeleted=true or state=deleted.",
        querystring: ListVpsQuery,
        response: { 200: VpsPage, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      const f = svc.listFilter(tokenPrincipal(req), req.query);
      const body = await pages.get(JSON.stringify(f), async () => {
        const out: z.output<typeof VpsPage> = pageOf(await svc.list(f), f.limit, vpsDto, (v) => v.createdAt);
        return serialized(reply, out);
      });
      return sendSerialized(reply, body);
    },
  );

  app.get(
    "/v1/vps/:id",
    { schema: { tags, summary: "Get a VPS", params: IdParams, response: { 200: Vps, ...ERROR_RESPONSES } } },
    async (req) => vpsDto(await svc.get(tokenPrincipal(req), req.params.id)),
  );

  app.delete(
    "/v1/vps/:id",
    {
      config: mutating,
      schema: {
        tags,
        summary: "Delete a VPS",
        description: "Moves it to `deleting` and queues the VM's destruction; it ends `deleted`.",
        headers: IdempotencyHeaders,
        params: IdParams,
        response: { 202: Vps, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) =>
      reply.code(202).send(vpsDto(await svc.act(tokenPrincipal(req), req.params.id, "delete"))),
  );

  app.post(
    "/v1/vps/:id/actions/:action",
    {
      config: mutating,
      schema: {
        tags,
        summary: "Start, stop, reboot, pause, resume, suspend or restore a VPS",
        description:
          "202 with the VPS in its transitional state (e.g. `stopping`) and `action` set. 409 VPS_BUSY while another action holds the VPS, 409 INVALID_STATE when the action makes no sense in its state.",
        headers: IdempotencyHeaders,
        params: ActionParams,
        body: EmptyBody,
        response: { 202: Vps, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) =>
      reply.code(202).send(vpsDto(await svc.act(tokenPrincipal(req), req.params.id, req.params.action))),
  );
};
