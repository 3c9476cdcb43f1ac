import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { projectFilter, requireOperator, tokenPrincipal } from "../http/auth.js";
import { networkDto } from "../http/dto.js";
import { afterCursor, decodeCursor, orderForCursor, pageOf } from "../http/pagination.js";
import {
  ERROR_RESPONSES,
  ListNetworksQuery,
  NetworkMapSchema,
  NetworkSchema,
  page,
} from "../http/schemas.js";
import { buildNetworkMap, ETHERNET_MTU } from "../network/map.js";

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
      const mtu = app.deps.networkMtu ?? ETHERNET_MTU;
      return pageOf(
        rows,
        req.query.limit,
        (n) => networkDto(n, mtu),
        (n) => n.createdAt,
      );
    },
  );

  app.get(
    "/v1/network-map",
    {
      schema: {
        tags: ["networks"],
        summary: "The region's network map (operators)",
        description:
          "What the agents' switches receive: every network, every placed VPS's NIC on its node, every node's overlay endpoint and the region's gateway, with a version that grows on every change. The local cluster's gateway follows it.",
        response: { 200: NetworkMapSchema, ...ERROR_RESPONSES },
      },
    },
    async (req) => {
      requireOperator(req);
      const m = await (app.deps.networkMap?.current() ?? buildNetworkMap(db));
      return {
        version: m.version,
        networks: m.networks.map((n) => ({
          id: n.id,
          vni: n.vni,
          cidr: n.cidr,
          gateway: { ipv4: n.gatewayIpv4, mac: n.gatewayMac },
          ...(n.mtu > 0 ? { mtu: n.mtu } : {}),
        })),
        ports: m.ports,
        nodes: m.nodes,
        ...(m.gatewayNode ? { gatewayNode: m.gatewayNode } : {}),
      };
    },
  );
};
