import type { SwaggerOptions } from "@fastify/swagger";
import { jsonSchemaTransform, jsonSchemaTransformObject } from "fastify-type-provider-zod";

/**
 * Every documented operation's id, by method and route: the names client generators give their
 * functions, so they are chosen here once rather than derived from paths.
 */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  "GET /healthz": "healthz",
  "GET /readyz": "readyz",
  "GET /metrics": "metrics",
  "POST /v1/vps": "createVps",
  "GET /v1/vps": "listVps",
  "GET /v1/vps/:id": "getVps",
  "DELETE /v1/vps/:id": "deleteVps",
  "POST /v1/vps/:id/actions/:action": "actOnVps",
  "GET /v1/vps/:id/console": "openVpsConsole",
  "POST /v1/vps/:id/migrate": "migrateVps",
  "PATCH /v1/vps/:id": "updateVps",
  "POST /v1/vps/:id/resize": "resizeVps",
  "POST /v1/vps/:id/rebuild": "rebuildVps",
  "GET /v1/nodes": "listNodes",
  "GET /v1/nodes/:id": "getNode",
  "POST /v1/nodes/:id/drain": "drainNode",
  "GET /v1/nodes/:id/drain": "getNodeDrain",
  "POST /v1/nodes/:id/undrain": "undrainNode",
  "POST /v1/nodes/register": "registerNode",
  "POST /v1/nodes/:id/heartbeat": "heartbeatNode",
  "GET /v1/plans": "listPlans",
  "POST /v1/plans": "createPlan",
  "GET /v1/plans/:id": "getPlan",
  "DELETE /v1/plans/:id": "deletePlan",
  "GET /v1/images": "listImages",
  "POST /v1/images": "createImage",
  "GET /v1/images/:id": "getImage",
  "GET /v1/events": "listEvents",
  "GET /v1/tokens": "listTokens",
  "POST /v1/tokens": "createToken",
  "DELETE /v1/tokens/:id": "revokeToken",
  "GET /v1/whoami": "whoAmI",
  "GET /v1/projects": "listProjects",
  "POST /v1/projects": "createProject",
  "GET /v1/projects/:id": "getProject",
  "PATCH /v1/projects/:id": "updateProject",
  "GET /v1/placement-groups": "listPlacementGroups",
  "POST /v1/placement-groups": "createPlacementGroup",
  "GET /v1/placement-groups/:id": "getPlacementGroup",
  "DELETE /v1/placement-groups/:id": "deletePlacementGroup",
  "GET /v1/networks": "listNetworks",
  "GET /v1/network-map": "getNetworkMap",
  "GET /v1/migrations": "listMigrations",
  "GET /v1/migrations/:id": "getMigration",
  "POST /v1/migrations/:id/cancel": "cancelMigration",
  "GET /v1/balancer": "getBalancer",
  "PUT /v1/balancer": "updateBalancer",
  "POST /v1/balancer/plan": "planBalancer",
};

/** A route not in the table still gets a stable id: "POST /v1/vps/:id/resize" → "postVpsResize". */
export function derivedOperationId(method: string, url: string): string {
  const words = url
    .split("/")
    .filter((w) => w && w !== "v1" && !w.startsWith(":"))
    .flatMap((w) => w.split("-"));
  return [method.toLowerCase(), ...words.map((w) => w.charAt(0).toUpperCase() + w.slice(1))].join("");
}

/** @fastify/swagger's options: the document's header, and zod schemas turned into JSON Schema. */
export const swaggerOptions: SwaggerOptions = {
  openapi: {
    openapi: "3.1.0",
    info: {
      title: "Skiff API",
      version: "1.0.0",
      description:
        "Provision and run VPSes. Authenticate with `Authorization: Bearer <token>`. Errors are `{error:{code,message,details?}}`. Lists paginate with `?limit=&cursor=`. `GET /v1/vps/{id}/console` upgrades to a WebSocket; `GET /metrics` answers Prometheus text.",
    },
    servers: [
      { url: "/", description: "the API that served this document" },
      {
        url: "http://127.0.0.1:{port}",
        description: "a local cluster (`npm start` prints its port)",
        variables: { port: { default: "8080" } },
      },
    ],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
  },
  transform: (input) => {
    const out = jsonSchemaTransform(input);
    const operationId =
      (input.schema as { operationId?: string }).operationId ??
      OPERATION_IDS[`${input.route.method} ${input.url}`] ??
      derivedOperationId(String(input.route.method), input.url);
    return { ...out, schema: { ...out.schema, operationId } };
  },
  transformObject: jsonSchemaTransformObject,
};
