import { BROADCAST_MAC, readIpv4, readMac, writeIpv4, writeMac } from "./address.js";
import { buildEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from "./ethernet.js";
import { fail, ok, type Parsed } from "./result.js";

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
const ARP_BYTES = 28;

/** RFC 826, IPv4 over Ethernet only. */
export interface ArpPacket {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export function parseArp(payload: Uint8Array): Parsed<ArpPacket> {
  // Ethernet pads short frames, so the payload may be longer than 28 bytes.
  if (payload.length < ARP_BYTES) return fail("TRUNCATED");
  const htype = (payload[0] << 8) | payload[1];
  const ptype = (payload[2] << 8) | payload[3];
  if (htype !== 1 || ptype !== ETHERTYPE_IPV4 || payload[4] !== 6 || payload[5] !== 4)
    return fail("UNSUPPORTED");
  const op = (payload[6] << 8) | payload[7];
  if (op !== ARP_REQUEST && op !== ARP_REPLY) return fail("UNSUPPORTED");
  return ok({
    op,
    senderMac: readMac(payload, 8),
    senderIp: readIpv4(payload, 14),
    targetMac: readMac(payload, 18),
    targetIp: readIpv4(payload, 24),
  });
}

export function buildArp(packet: ArpPacket): Buffer {
  const out = Buffer.alloc(ARP_BYTES);
  out.writeUInt16BE(1, 0);
  out.writeUInt16BE(ETHERTYPE_IPV4, 2);
  out[4] = 6;
  out[5] = 4;
  out.writeUInt16BE(packet.op, 6);
  writeMac(out, 8, packet.senderMac);
  writeIpv4(out, 14, packet.senderIp);
  writeMac(out, 18, packet.targetMac);
  writeIpv4(out, 24, packet.targetIp);
  return out;
}

/** The reply a responder sends for `request`, saying `ip` is at `mac`. */
export function buildArpReplyFrame(request: ArpPacket, mac: number): Buffer {
  const reply = buildArp({
    op: ARP_REPLY,
    senderMac: mac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  });
  return buildEthernet({ dst: request.senderMac, src: mac, etherType: ETHERTYPE_ARP }, reply);
}

/**
 * Gratuitous ARP (a broadcast request for one's own address, RFC 5227 §3): what a VM's new home
 * sends at a migration's commit, so neighbours and switches learn where the address now lives.
 */
export function buildGratuitousArp(mac: number, ip: number): Buffer {
  const packet = buildArp({ op: ARP_REQUEST, senderMac: mac, senderIp: ip, targetMac: 0, targetIp: ip });
  return buildEthernet({ dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE_ARP }, packet);
}
