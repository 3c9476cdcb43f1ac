import { SkiffError } from "@skiff/common";
import { type Cidr, cidrContains, ipv4ToNumber, isIpv4, macToNumber, parseCidr } from "./wire/address.js";
import { ETHERNET_HEADER_BYTES, MAX_MTU } from "./wire/ethernet.js";
import { MAX_VNI } from "./wire/vxlan.js";

/** A network's MTU when its spec gives none: Ethernet's classic 1500. */
export const DEFAULT_MTU = 1500;
/** The smallest MTU every IPv4 host must handle (RFC 791). */
export const MIN_MTU = 576;

/** A network's MTU: its spec's, else DEFAULT_MTU. */
export const mtuOf = (spec: NetworkSpec): number => spec.mtu ?? DEFAULT_MTU;

/**
 * The network map: what the control plane says about every network, NIC and node. It is the only
 * authority; switches never learn addresses or locations from traffic.
 */
export interface NetworkSpec {
  id: string;
  /** VXLAN network identifier, 24 bits, unique in the region. */
  vni: number;
  /** e.g. "10.1.0.0/24" */
  cidr: string;
  /** The network's router: answered by switches for ARP, given to guests by DHCP. */
  gateway: { ipv4: string; mac: string };
  /**
   * The network's MTU, given to guests by DHCP (option 26) and enforced by the switches (a bigger
   * frame is dropped); DEFAULT_MTU when absent, MIN_MTU to MAX_MTU. The overlay adds 50 bytes
   * (VXLAN over UDP over IPv4): the nodes' underlay must carry MTU + 50.
   */
  mtu?: number;
  /** DNS servers given to guests by DHCP (option 6); none when absent. */
  dns?: string[];
}

export interface PortSpec {
  vpsId: string;
  mac: string;
  ipv4: string;
  networkId: string;
  /** The node the VPS runs on now; changes at a migration's commit. */
  node: string;
  hostname: string;
}

/** An overlay endpoint: where a node's switch receives VXLAN datagrams. */
export interface NodeSpec {
  id: string;
  host: string;
  port: number;
}

export interface NetworkMap {
  version: number;
  networks: NetworkSpec[];
  ports: PortSpec[];
  nodes: NodeSpec[];
  /** The node that hosts every network's gateway (the region's gateway); none when absent. */
  gatewayNode?: string;
}

/** Changes after a full map, each with the map version it produces. */
export type MapUpdate =
  | { version: number; kind: "setPort"; port: PortSpec }
  | { version: number; kind: "removePort"; vpsId: string }
  | { version: number; kind: "movePort"; vpsId: string; node: string }
  | { version: number; kind: "setNode"; node: NodeSpec }
  | { version: number; kind: "removeNode"; nodeId: string };

/** A network with its addresses as numbers, and its ports indexed for the forwarding path. */
export interface CompiledNetwork {
  spec: NetworkSpec;
  cidr: Cidr;
  gatewayIp: number;
  gatewayMac: number;
  /** The largest frame the network carries: its MTU and the Ethernet header. */
  maxFrame: number;
  portsByMac: Map<number, CompiledPort>;
  portsByIp: Map<number, CompiledPort>;
}

export interface CompiledPort {
  spec: PortSpec;
  mac: number;
  ip: number;
  network: CompiledNetwork;
}

/**
 * The map as the switch uses it: validated, with numeric indexes. Replaced as a whole or changed
 * by one update; an input older than or equal to the current version is ignored (a late delivery).
 */
export class MapState {
  version = -1;
  readonly networksById = new Map<string, CompiledNetwork>();
  readonly networksByVni = new Map<number, CompiledNetwork>();
  readonly ports = new Map<string, CompiledPort>();
  readonly nodes = new Map<string, NodeSpec>();
  /** "host:port" → node id, to check who sent an overlay datagram. */
  readonly nodesByEndpoint = new Map<string, string>();
  gatewayNode: string | undefined;

  /** Replaces everything. Returns false when `map` is stale. Throws SkiffError on an invalid map. */
  replace(map: NetworkMap): boolean {
    if (map.version <= this.version) return false;
    const next = new MapState();
    next.gatewayNode = map.gatewayNode;
    for (const network of map.networks) next.addNetwork(network);
    for (const node of map.nodes) next.setNode(node);
    for (const port of map.ports) next.setPort(port);
    this.networksById.clear();
    this.networksByVni.clear();
    this.ports.clear();
    this.nodes.clear();
    this.nodesByEndpoint.clear();
    for (const [k, v] of next.networksById) this.networksById.set(k, v);
    for (const [k, v] of next.networksByVni) this.networksByVni.set(k, v);
    for (const [k, v] of next.ports) this.ports.set(k, v);
    for (const [k, v] of next.nodes) this.nodes.set(k, v);
    for (const [k, v] of next.nodesByEndpoint) this.nodesByEndpoint.set(k, v);
    this.gatewayNode = next.gatewayNode;
    this.version = map.version;
    return true;
  }

  /** Applies one update. Returns false when it is stale. Throws SkiffError when it is invalid. */
  apply(update: MapUpdate): boolean {
    if (update.version <= this.version) return false;
    switch (update.kind) {
      case "setPort":
        this.setPort(update.port);
        break;
      case "removePort":
        this.removePort(update.vpsId);
        break;
      case "movePort": {
        const port = this.ports.get(update.vpsId);
        if (!port) throw new SkiffError("NET_UNKNOWN_PORT", `no port for VPS ${update.vpsId}`);
        port.spec = { ...port.spec, node: update.node };
        break;
      }
      case "setNode":
        this.setNode(update.node);
        break;
      case "removeNode":
        this.removeNode(update.nodeId);
        break;
    }
    this.version = update.version;
    return true;
  }

  private addNetwork(spec: NetworkSpec): void {
    if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > MAX_VNI) {
      throw new SkiffError("NET_BAD_VNI", `network ${spec.id}: VNI ${spec.vni} out of range`);
    }
    if (this.networksById.has(spec.id) || this.networksByVni.has(spec.vni)) {
      throw new SkiffError("NET_DUPLICATE_NETWORK", `network ${spec.id} (VNI ${spec.vni}) given twice`);
    }
    const cidr = parseCidr(spec.cidr);
    const gatewayIp = ipv4ToNumber(spec.gateway.ipv4);
    if (!cidrContains(cidr, gatewayIp)) {
      throw new SkiffError(
        "NET_BAD_GATEWAY",
        `network ${spec.id}: gateway ${spec.gateway.ipv4} not in ${spec.cidr}`,
      );
    }
    for (const dns of spec.dns ?? []) {
      if (!isIpv4(dns)) throw new SkiffError("NET_BAD_IPV4", `network ${spec.id}: DNS ${dns}`);
    }
    const mtu = mtuOf(spec);
    if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
      throw new SkiffError("NET_BAD_MTU", `network ${spec.id}: MTU ${mtu} not in ${MIN_MTU}..${MAX_MTU}`);
    }
    const network: CompiledNetwork = {
      spec,
      maxFrame: ETHERNET_HEADER_BYTES + mtu,
      cidr,
      gatewayIp,
      gatewayMac: macToNumber(spec.gateway.mac),
      portsByMac: new Map(),
      portsByIp: new Map(),
    };
    this.networksById.set(spec.id, network);
    this.networksByVni.set(spec.vni, network);
  }

  private setPort(spec: PortSpec): void {
    const network = this.networksById.get(spec.networkId);
    if (!network)
      throw new SkiffError("NET_UNKNOWN_NETWORK", `port ${spec.vpsId}: no network ${spec.networkId}`);
    const mac = macToNumber(spec.mac);
    const ip = ipv4ToNumber(spec.ipv4);
    if (!cidrContains(network.cidr, ip) || ip === network.gatewayIp) {
      throw new SkiffError(
        "NET_BAD_PORT_ADDRESS",
        `port ${spec.vpsId}: ${spec.ipv4} not usable in ${spec.networkId}`,
      );
    }
    const byMac = network.portsByMac.get(mac);
    const byIp = network.portsByIp.get(ip);
    if (
      (byMac && byMac.spec.vpsId !== spec.vpsId) ||
      (byIp && byIp.spec.vpsId !== spec.vpsId) ||
      mac === network.gatewayMac
    ) {
      throw new SkiffError(
        "NET_ADDRESS_IN_USE",
        `port ${spec.vpsId}: ${spec.mac}/${spec.ipv4} already taken`,
      );
    }
    this.removePort(spec.vpsId);
    const port: CompiledPort = { spec, mac, ip, network };
    network.portsByMac.set(mac, port);
    network.portsByIp.set(ip, port);
    this.ports.set(spec.vpsId, port);
  }

  private removePort(vpsId: string): void {
    const port = this.ports.get(vpsId);
    if (!port) return;
    port.network.portsByMac.delete(port.mac);
    port.network.portsByIp.delete(port.ip);
    this.ports.delete(vpsId);
  }

  private setNode(node: NodeSpec): void {
    this.removeNode(node.id);
    this.nodes.set(node.id, node);
    this.nodesByEndpoint.set(`${node.host}:${node.port}`, node.id);
  }

  private removeNode(id: string): void {
    const old = this.nodes.get(id);
    if (!old) return;
    this.nodes.delete(id);
    this.nodesByEndpoint.delete(`${old.host}:${old.port}`);
  }
}
