import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { tokenPrincipal } from "../http/auth.js";
import { vpsDto } from "../http/dto.js";
import { ERROR_RESPONSES, IdempotencyHeaders, IdParams, ResourceName, Vps } from "../http/schemas.js";
import { VpsChanges } from "../services/vps-changes.js";

const RenameBody = z.object({ name: ResourceName }).strict();
const ResizeBody = z.object({ plan: z.string().min(1).max(100).describe("plan id or name") }).strict();
const RebuildBody = z.object({ image: z.string().min(1).max(100).describe("image id or name") }).strict();

/** Rename, resize and rebuild a VPS (services/vps-changes.ts). */
export const vpsChangeRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, queues, policy, log } = app.deps;
  const svc = new VpsChanges({ db, queues, policy, log });
  const tags = ["vps"];
  const mutating = { idempotent: true };

  app.patch(
    "/v1/vps/:id",
    {
      config: mutating,
      schema: {
        tags,
        summary: "Rename a VPS",
        description:
          "Changes its name (unique in the project); nothing else changes, in any state. 409 NAME_TAKEN.",
        headers: IdempotencyHeaders,
        params: IdParams,
        body: RenameBody,
        response: { 200: Vps, ...ERROR_RESPONSES },
      },
    },
    async (req) => vpsDto(await svc.rename(tokenPrincipal(req), req.params.id, req.body.name)),
  );

  app.post(
    "/v1/vps/:id/resize",
    {
      config: mutating,
      schema: {
        tags,
        summary: "Resize a stopped VPS to another plan",
        description:
          "Memory, vCPUs, CPU share and disk from the plan; the disk only grows (the guest sees the larger device at its next boot). 202 with `action: resize`; it stays `stopped`. 409 INVALID_STATE unless stopped; 422 NO_NODE_FITS when its node cannot hold the plan (migrate it first); 422 QUOTA_EXCEEDED.",
        headers: IdempotencyHeaders,
        params: IdParams,
        body: ResizeBody,
        response: { 202: Vps, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) =>
      reply.code(202).send(vpsDto(await svc.resize(tokenPrincipal(req), req.params.id, req.body.plan))),
  );

  app.post(
    "/v1/vps/:id/rebuild",
    {
      config: mutating,
      schema: {
        tags,
        summary: "Rebuild a VPS from an image",
        description:
          "Its disk is made afresh from the image (everything on the old one is lost) and it boots; name, address and MAC stay. From running or stopped: 202 in `provisioning`, then `running`.",
        headers: IdempotencyHeaders,
        params: IdParams,
        body: RebuildBody,
        response: { 202: Vps, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) =>
      reply.code(202).send(vpsDto(await svc.rebuild(tokenPrincipal(req), req.params.id, req.body.image))),
  );
};
