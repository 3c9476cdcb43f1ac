import type { CompiledNetwork } from "../map.js";
import { METADATA_IP } from "../metadata/metadata-service.js";
import { ARP_REQUEST, type ArpPacket, buildArpReplyFrame } from "../wire/arp.js";

/**
 * Answers an ARP request from the map: a port of the network, its gateway, or the metadata address. Returns undefined for
 * an address the map does not know there, and for a request about the asker's own address (a probe
 * or an announcement: answering would report a conflict).
 */
export function answerArp(network: CompiledNetwork, request: ArpPacket): Buffer | undefined {
  if (request.op !== ARP_REQUEST || request.targetIp === request.senderIp) return undefined;
  // The metadata address is answered by the switch: a guest with an on-link route to it ARPs for it.
  if (request.targetIp === network.gatewayIp || request.targetIp === METADATA_IP)
    return buildArpReplyFrame(request, network.gatewayMac);
  const port = network.portsByIp.get(request.targetIp);
  if (!port || port.mac === request.senderMac) return undefined;
  return buildArpReplyFrame(request, port.mac);
}
