import type { NetworkMap, PortSpec } from "./map.js";
import { BROADCAST_MAC, ipv4ToNumber, macToNumber } from "./wire/address.js";
import { ARP_REQUEST, buildArp } from "./wire/arp.js";
import {
  buildDhcp,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  DhcpMessageType,
  DhcpOption,
  ipv4Option,
} from "./wire/dhcp.js";
import { buildEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from "./wire/ethernet.js";
import { buildIpv4, IP_PROTO_UDP, ipv4Header } from "./wire/ipv4.js";
import { buildUdp } from "./wire/udp.js";

/** Two projects' networks; a and b in net1 (a on node n1, b on n2), c in net2 on n1, d in net1 on n1. */
export function testMap(overrides: Partial<NetworkMap> = {}): NetworkMap {
  return {
    version: 1,
    networks: [
      { id: "net1", vni: 101, cidr: "10.1.0.0/24", gateway: { ipv4: "10.1.0.1", mac: "02:00:00:01:00:01" } },
      { id: "net2", vni: 102, cidr: "10.2.0.0/24", gateway: { ipv4: "10.2.0.1", mac: "02:00:00:02:00:01" } },
    ],
    ports: [
      port("a", "02:00:00:00:00:0a", "10.1.0.10", "net1", "n1"),
      port("b", "02:00:00:00:00:0b", "10.1.0.11", "net1", "n2"),
      port("c", "02:00:00:00:00:0c", "10.2.0.12", "net2", "n1"),
      port("d", "02:00:00:00:00:0d", "10.1.0.13", "net1", "n1"),
    ],
    nodes: [],
    ...overrides,
  };
}

export function port(vpsId: string, mac: string, ipv4: string, networkId: string, node: string): PortSpec {
  return { vpsId, mac, ipv4, networkId, node, hostname: `host-${vpsId}` };
}

/** An IPv4/UDP frame between two addresses. */
export function udpFrame(srcMac: string, dstMac: string, srcIp: string, dstIp: string, body = "hi"): Buffer {
  const src = ipv4ToNumber(srcIp);
  const dst = ipv4ToNumber(dstIp);
  const udp = buildUdp({ srcPort: 4000, dstPort: 5000, payload: Buffer.from(body) }, src, dst);
  return buildEthernet(
    { dst: macToNumber(dstMac), src: macToNumber(srcMac), etherType: ETHERTYPE_IPV4 },
    buildIpv4(ipv4Header(src, dst, IP_PROTO_UDP), udp),
  );
}

export function arpRequest(srcMac: string, senderMac: string, senderIp: string, targetIp: string): Buffer {
  const arp = buildArp({
    op: ARP_REQUEST,
    senderMac: macToNumber(senderMac),
    senderIp: ipv4ToNumber(senderIp),
    targetMac: 0,
    targetIp: ipv4ToNumber(targetIp),
  });
  return buildEthernet({ dst: BROADCAST_MAC, src: macToNumber(srcMac), etherType: ETHERTYPE_ARP }, arp);
}

export function dhcpFrame(mac: string, type: DhcpMessageType, requestedIp?: string): Buffer {
  const options = new Map<number, Uint8Array>();
  if (requestedIp) options.set(DhcpOption.REQUESTED_IP, ipv4Option(ipv4ToNumber(requestedIp)));
  const dhcp = buildDhcp({
    op: 1,
    xid: 0x1234,
    secs: 0,
    broadcast: false,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: macToNumber(mac),
    messageType: type,
    options,
  });
  const bcast = 0xffff_ffff;
  const udp = buildUdp({ srcPort: DHCP_CLIENT_PORT, dstPort: DHCP_SERVER_PORT, payload: dhcp }, 0, bcast);
  return buildEthernet(
    { dst: BROADCAST_MAC, src: macToNumber(mac), etherType: ETHERTYPE_IPV4 },
    buildIpv4(ipv4Header(0, bcast, IP_PROTO_UDP), udp),
  );
}

export { DhcpMessageType };

/** Collects what a port receives. */
export function sink(): { frames: Buffer[]; output: (frame: Uint8Array) => boolean } {
  const frames: Buffer[] = [];
  return { frames, output: (frame) => frames.push(Buffer.from(frame)) > 0 };
}
