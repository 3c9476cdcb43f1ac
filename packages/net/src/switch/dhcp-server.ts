import { type CompiledNetwork, type CompiledPort, mtuOf } from "../map.js";
import { ipv4ToNumber } from "../wire/address.js";
import {
  buildDhcp,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  type DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  ipv4Option,
  readIpv4Option,
  u16Option,
  u32Option,
} from "../wire/dhcp.js";
import { buildEthernet, ETHERTYPE_IPV4 } from "../wire/ethernet.js";
import { buildIpv4, IP_PROTO_UDP, ipv4Header } from "../wire/ipv4.js";
import { buildUdp } from "../wire/udp.js";

/** Leases are fixed (the address is the port's for its life), so the time only paces renewals. */
export const DHCP_LEASE_SECONDS = 86_400;
const LIMITED_BROADCAST = 0xffff_ffff;

/**
 * The local DHCP server (RFC 2131 §4.3): every port gets the address the map gives it, the network's
 * gateway as router, its hostname. Returns the reply frame, or undefined when there is nothing to
 * answer (release, decline, inform, or a request addressed to another server).
 */
export function answerDhcp(
  network: CompiledNetwork,
  port: CompiledPort,
  request: DhcpMessage,
): Buffer | undefined {
  if (request.op !== 1) return undefined;
  let type: DhcpMessageType;
  if (request.messageType === DhcpMessageType.DISCOVER) {
    type = DhcpMessageType.OFFER;
  } else if (request.messageType === DhcpMessageType.REQUEST) {
    const serverId = readIpv4Option(request, DhcpOption.SERVER_ID);
    if (serverId !== undefined && serverId !== network.gatewayIp) return undefined;
    const wanted = readIpv4Option(request, DhcpOption.REQUESTED_IP) ?? request.ciaddr;
    type = wanted === port.ip ? DhcpMessageType.ACK : DhcpMessageType.NAK;
  } else {
    return undefined;
  }
  const options = new Map<number, Uint8Array>([[DhcpOption.SERVER_ID, ipv4Option(network.gatewayIp)]]);
  if (type !== DhcpMessageType.NAK) {
    options.set(DhcpOption.LEASE_TIME, u32Option(DHCP_LEASE_SECONDS));
    options.set(DhcpOption.SUBNET_MASK, ipv4Option(network.cidr.mask));
    options.set(DhcpOption.ROUTER, ipv4Option(network.gatewayIp));
    const dns = network.spec.dns ?? [];
    if (dns.length > 0) options.set(DhcpOption.DNS, ipv4Option(...dns.map(ipv4ToNumber)));
    options.set(DhcpOption.MTU, u16Option(mtuOf(network.spec)));
    const hostname = Buffer.from(port.spec.hostname, "utf8").subarray(0, 255);
    if (hostname.length > 0) options.set(DhcpOption.HOSTNAME, hostname);
  }
  const reply = buildDhcp({
    op: 2,
    xid: request.xid,
    secs: 0,
    broadcast: request.broadcast,
    ciaddr: type === DhcpMessageType.NAK ? 0 : request.ciaddr,
    yiaddr: type === DhcpMessageType.NAK ? 0 : port.ip,
    siaddr: 0,
    giaddr: 0,
    chaddr: request.chaddr,
    messageType: type,
    options,
  });
  // §4.1: a NAK is broadcast; a client with an address gets unicast; one without, what it asked.
  const dstIp =
    type === DhcpMessageType.NAK || (request.ciaddr === 0 && request.broadcast)
      ? LIMITED_BROADCAST
      : request.ciaddr || port.ip;
  const udp = buildUdp(
    { srcPort: DHCP_SERVER_PORT, dstPort: DHCP_CLIENT_PORT, payload: reply },
    network.gatewayIp,
    dstIp,
  );
  const ip = buildIpv4(ipv4Header(network.gatewayIp, dstIp, IP_PROTO_UDP), udp);
  return buildEthernet({ dst: port.mac, src: network.gatewayMac, etherType: ETHERTYPE_IPV4 }, ip);
}
