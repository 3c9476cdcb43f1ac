import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { projectFilter, tokenPrincipal } from "../http/auth.js";
import { networkDto } from "../http/dto.js";
import { afterCursor, decodeCursor, orderForCursor, pageOf } from "../http/pagination.js";
import { ERROR_RESPONSES, ListNetworksQuery, NetworkSchema, page } from "../http/schemas.js";

export const networkRoutes: FastifyPluginAsyncZod = async (app) => {
  const { db } = app.deps;

  app.get(
    "/v1/networks",
    {
      schema: {
        tags: ["networks"],
        summary: "List networks (tenants: their project's)",
        description:
          "Each project has one private network, created when its first VPS is placed: a CIDR from the region's pool (SKIFF_NETWORK_POOL), its own VNI on the overlay, and a gateway at the first address. Oldest first.",
        querystring: ListNetworksQuery,
        response: { 200: page(NetworkSchema), ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      const p = tokenPrincipal(req);
      const rows = await db.network.findMany({
        where: {
          ...projectFilter(p),
          ...(p.kind === "operator" && req.query.projectId ? { projectId: req.query.projectId } : {}),
          ...afterCursor(decodeCursor(req.query.cursor)),
        },
        orderBy: orderForCursor(),
        take: req.query.limit + 1,
      });
      return pageOf(rows, req.query.limit, networkDto, (n) => n.createdAt);
    },
  );
};
