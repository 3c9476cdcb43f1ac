/** The control plane's network map (protobuf) as packages/net's NetworkMap. */
import type { NetworkMap } from "@skiff/net";
import type { NetworkMap as NetworkMapMsg } from "@skiff/proto";
import { agentError } from "../errors.js";

export function networkMapFromProto(msg: NetworkMapMsg | undefined): NetworkMap {
  if (!msg) throw agentError("NETWORK_MAP_INVALID", "map is required");
  return {
    version: msg.version,
    networks: msg.networks.map((n) => ({
      id: n.id,
      vni: n.vni,
      cidr: n.cidr,
      gateway: { ipv4: n.gatewayIpv4, mac: n.gatewayMac },
      // 0 and an empty list are the proto's "absent".
      ...(n.mtu > 0 ? { mtu: n.mtu } : {}),
      ...(n.dns.length > 0 ? { dns: [...n.dns] } : {}),
    })),
    ports: msg.ports.map((p) => ({
      vpsId: p.vpsId,
      mac: p.mac,
      ipv4: p.ipv4,
      networkId: p.networkId,
      node: p.node,
      hostname: p.hostname,
    })),
    nodes: msg.nodes.map((n) => ({ id: n.id, host: n.host, port: n.port })),
    ...(msg.gatewayNode !== "" ? { gatewayNode: msg.gatewayNode } : {}),
  };
}
