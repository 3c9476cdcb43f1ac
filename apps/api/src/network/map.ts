import type { NetworkMap } from "@skiff/proto";
import type { Db } from "../db/client.js";
import { overlayAddress } from "./overlay-address.js";

export type { NetworkMap };

/** What the switches give a network whose map entry has no MTU (0). */
export const ETHERNET_MTU = 1500;

/** The region's gateway as the map lists it: a node id and its overlay endpoint. */
export interface GatewayEndpoint {
  readonly node: string;
  readonly host: string;
  readonly port: number;
}

/** "host:port" (SKIFF_GATEWAY_OVERLAY) → the gateway's entry; undefined when unset. */
export function parseGatewayOverlay(spec: string, node = "gateway"): GatewayEndpoint | undefined {
  if (!spec) return undefined;
  const i = spec.lastIndexOf(":");
  const port = Number(spec.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`SKIFF_GATEWAY_OVERLAY must be host:port, got ${spec}`);
  }
  return { node, host: spec.slice(0, i), port };
}

/**
 * The whole network map from the database, read in one snapshot so the version matches the
 * contents: every network, every live VPS NIC on the node it runs on (by node name), every node's
 * overlay endpoint (fenced nodes left out: the overlay must not accept their datagrams), and the
 * region's gateway when there is one.
 */
export async function buildNetworkMap(
  db: Db,
  opts: { gateway?: GatewayEndpoint; mtu?: number } = {},
): Promise<NetworkMap> {
  const { gateway, mtu = 0 } = opts;
  const gatewayHost = gateway ? await overlayAddress(gateway.host) : "";
  return db.$transaction(
    async (tx) => {
      const state = await tx.networkMapState.findUniqueOrThrow({ where: { id: 1 } });
      const networks = await tx.network.findMany({ orderBy: { vni: "asc" } });
      const ports = await tx.vps.findMany({
        where: { networkId: { not: null }, nodeId: { not: null }, state: { not: "deleted" } },
        select: {
          id: true,
          name: true,
          mac: true,
          ipv4: true,
          networkId: true,
          node: { select: { name: true } },
        },
        orderBy: { id: "asc" },
      });
      const nodes = await tx.node.findMany({
        where: { overlayHost: { not: null }, overlayPort: { not: null }, status: { not: "fenced" } },
        select: { name: true, overlayHost: true, overlayPort: true },
        orderBy: { name: "asc" },
      });
      return {
        version: Number(state.version),
        networks: networks.map((n) => ({
          id: n.id,
          vni: n.vni,
          cidr: n.cidr,
          gatewayIpv4: n.gatewayIpv4,
          gatewayMac: n.gatewayMac,
          // 0: the switches' default (1500).
          mtu,
          dns: [],
        })),
        ports: ports.map((p) => ({
          vpsId: p.id,
          mac: p.mac ?? "",
          ipv4: p.ipv4 ?? "",
          networkId: p.networkId ?? "",
          node: p.node?.name ?? "",
          hostname: p.name,
        })),
        nodes: [
          ...nodes.map((n) => ({ id: n.name, host: n.overlayHost ?? "", port: n.overlayPort ?? 0 })),
          ...(gateway ? [{ id: gateway.node, host: gatewayHost, port: gateway.port }] : []),
        ],
        gatewayNode: gateway?.node ?? "",
      };
    },
    { isolationLevel: "RepeatableRead" },
  );
}

/** The map's current version (what a heartbeat's `networkMapVersion` is compared with). */
export async function networkMapVersion(db: Db): Promise<number> {
  const s = await db.networkMapState.findUniqueOrThrow({ where: { id: 1 } });
  return Number(s.version);
}
