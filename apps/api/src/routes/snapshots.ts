import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Snapshot } from "../db/client.js";
import { tokenPrincipal } from "../http/auth.js";
import { vpsDto } from "../http/dto.js";
import { ERROR_RESPONSES, IdempotencyHeaders, IdParams, ResourceName, Vps } from "../http/schemas.js";
import { Snapshots } from "../services/snapshots.js";
import { VpsChanges } from "../services/vps-changes.js";

const SnapshotSchema = z
  .object({
    id: z.string(),
    projectId: z.string(),
    vpsId: z.string(),
    name: z.string(),
    state: z.enum(["creating", "available", "error"]),
    nodeId: z.string().nullable().describe("the node it is kept on"),
    storageId: z
      .string()
      .nullable()
      .describe("the shared storage it is on (every node mounting it reaches it)"),
    sizeBytes: z.number().int(),
    pausedMs: z
      .number()
      .nullable()
      .describe("how long the guest was paused for the copy (null: it was not running)"),
    error: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: "Snapshot" });

function snapshotDto(s: Snapshot): z.infer<typeof SnapshotSchema> {
  return {
    id: s.id,
    projectId: s.projectId,
    vpsId: s.vpsId,
    name: s.name,
    state: s.state as "creating" | "available" | "error",
    nodeId: s.nodeId,
    storageId: s.storageId,
    sizeBytes: Number(s.sizeBytes),
    pausedMs: s.pausedMs,
    error: s.error,
    createdAt: s.createdAt.toISOString(),
  };
}

/** User snapshots of VPS disks (services/snapshots.ts). */
export const snapshotRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db, queues, policy, log, agents } = app.deps;
  const svc = new Snapshots({ db, agents, changes: new VpsChanges({ db, queues, policy, log }), log });
  const tags = ["snapshots"];
  const mutating = { idempotent: true };

  app.post(
    "/v1/vps/:id/snapshots",
    {
      config: mutating,
      schema: {
        tags,
        operationId: "createSnapshot",
        summary: "Snapshot a VPS's disk",
        description:
          "From a running (paused for the copy only), paused or stopped VPS. 202 with the snapshot `creating`; it becomes `available` (or `error`). 422 QUOTA_EXCEEDED past the project's snapshots; 409 NAME_TAKEN.",
        headers: IdempotencyHeaders,
        params: IdParams,
        body: z.object({ name: ResourceName }).strict(),
        response: { 202: SnapshotSchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) =>
      reply.code(202).send(snapshotDto(await svc.take(tokenPrincipal(req), req.params.id, req.body.name))),
  );

  app.get(
    "/v1/snapshots",
    {
      schema: {
        tags,
        operationId: "listSnapshots",
        summary: "List snapshots",
        description: "Oldest first (at most 500); `vpsId` keeps one VPS's.",
        querystring: z.object({ vpsId: z.string().uuid().optional() }),
        response: { 200: z.object({ items: z.array(SnapshotSchema) }), ...ERROR_RESPONSES },
      },
    },
    async (req) => ({ items: (await svc.list(tokenPrincipal(req), req.query)).map(snapshotDto) }),
  );

  app.get(
    "/v1/snapshots/:id",
    {
      schema: {
        tags,
        operationId: "getSnapshot",
        summary: "Get a snapshot",
        params: IdParams,
        response: { 200: SnapshotSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => snapshotDto(await svc.get(tokenPrincipal(req), req.params.id)),
  );

  app.delete(
    "/v1/snapshots/:id",
    {
      schema: {
        tags,
        summary: "Delete a snapshot",
        description:
          "Its file on the node goes, then the snapshot. 409 INVALID_STATE while it is being taken.",
        params: IdParams,
        response: { 204: z.null(), ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      await svc.delete(tokenPrincipal(req), req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/vps/:id/restore-snapshot",
    {
      config: mutating,
      schema: {
        tags,
        summary: "Restore a stopped VPS's disk from one of its snapshots",
        description:
          "Everything written since the snapshot is lost. 202 with `action: restore-snapshot`; it stays `stopped`. 422 UNPROCESSABLE when the snapshot is kept on another node than the VPS's now (migrate it back first).",
        headers: IdempotencyHeaders,
        params: IdParams,
        body: z.object({ snapshot: z.string().min(1).max(100).describe("snapshot id or name") }).strict(),
        response: { 202: Vps, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) =>
      reply.code(202).send(vpsDto(await svc.restore(tokenPrincipal(req), req.params.id, req.body.snapshot))),
  );
};
