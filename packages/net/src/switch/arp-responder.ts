import type { CompiledNetwork } from "../map.js";
import { ARP_REQUEST, type ArpPacket, buildArpReplyFrame } from "../wire/arp.js";

/**
 * Answers an ARP request from the map: a port of the network or its gateway. Returns undefined for
 * an address the map does not know there, and for a request about the asker's own address (a probe
 * or an announcement: answering would report a conflict).
 */
export function answerArp(network: CompiledNetwork, request: ArpPacket): Buffer | undefined {
  if (request.op !== ARP_REQUEST || request.targetIp === request.senderIp) return undefined;
  if (request.targetIp === network.gatewayIp) return buildArpReplyFrame(request, network.gatewayMac);
  const port = network.portsByIp.get(request.targetIp);
  if (!port || port.mac === request.senderMac) return undefined;
  return buildArpReplyFrame(request, port.mac);
}
