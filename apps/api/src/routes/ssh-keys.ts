import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { SshKey } from "../db/client.js";
import { tokenPrincipal } from "../http/auth.js";
import { pageOf } from "../http/pagination.js";
import {
  CreateSshKeyBody,
  ERROR_RESPONSES,
  IdempotencyHeaders,
  PageQuery,
  page,
  SshKeySchema,
} from "../http/schemas.js";
import { SshKeys } from "../services/ssh-keys.js";

function sshKeyDto(k: SshKey): z.infer<typeof SshKeySchema> {
  return {
    id: k.id,
    projectId: k.projectId,
    name: k.name,
    publicKey: k.publicKey,
    fingerprint: k.fingerprint,
    createdAt: k.createdAt.toISOString(),
  };
}

const RefParams = z.object({ ref: z.string().min(1).max(100).describe("SSH key id or name") });

/** A project's SSH public keys (services/ssh-keys.ts), given to VPSes at creation. */
export const sshKeyRoutes: FastifyPluginAsyncZod = async (app) => {
  const svc = new SshKeys(app.deps.db);
  const tags = ["ssh-keys"];

  app.post(
    "/v1/ssh-keys",
    {
      config: { idempotent: true },
      schema: {
        tags,
        operationId: "addSshKey",
        summary: "Add an SSH public key to the project",
        description:
          "The key is checked (type, base64, the blob's fields, RSA of 2048 bits or more) and shown with its SHA256 fingerprint. 400 VALIDATION_FAILED with `details.problem` (unsupported-type, bad-base64, malformed-key, rsa-too-small, ...); 409 NAME_TAKEN when the project has a key of that name or that fingerprint.",
        headers: IdempotencyHeaders,
        body: CreateSshKeyBody,
        response: { 201: SshKeySchema, ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => reply.code(201).send(sshKeyDto(await svc.add(tokenPrincipal(req), req.body))),
  );

  app.get(
    "/v1/ssh-keys",
    {
      schema: {
        tags,
        operationId: "listSshKeys",
        summary: "List SSH keys (tenants: their project's)",
        querystring: PageQuery.extend({ projectId: z.uuid().optional() }),
        response: { 200: page(SshKeySchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const rows = await svc.list(tokenPrincipal(req), req.query);
      return pageOf(rows, req.query.limit, sshKeyDto, (k) => k.createdAt);
    },
  );

  app.get(
    "/v1/ssh-keys/:ref",
    {
      schema: {
        tags,
        operationId: "getSshKey",
        summary: "Get an SSH key",
        params: RefParams,
        response: { 200: SshKeySchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => sshKeyDto(await svc.get(tokenPrincipal(req), req.params.ref)),
  );

  app.delete(
    "/v1/ssh-keys/:ref",
    {
      schema: {
        tags,
        operationId: "deleteSshKey",
        summary: "Delete an SSH key",
        description: "VPSes created with it keep it: their keys were copied at creation.",
        params: RefParams,
        response: { 204: z.null(), ...ERROR_RESPONSES },
      },
    },
    async (req, reply) => {
      await svc.delete(tokenPrincipal(req), req.params.ref);
      return reply.code(204).send(null);
    },
  );
};
