import { readMac, writeMac } from "./address.js";
import { fail, ok, type Parsed } from "./result.js";

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERNET_HEADER_BYTES = 14;
/** The largest MTU a Skiff network may have (jumbo frames; NetworkSpec.mtu). */
export const MAX_MTU = 9000;
/** Largest frame without FCS on any Skiff link: a jumbo frame. Each network's MTU bounds its own. */
export const MAX_FRAME_BYTES = ETHERNET_HEADER_BYTES + MAX_MTU;
/** A full-size frame at the classic MTU of 1500 (what benchmarks of frames per second send). */
export const CLASSIC_FRAME_BYTES = 1514;

export interface EthernetHeader {
  dst: number;
  src: number;
  etherType: number;
}

export interface EthernetFrame extends EthernetHeader {
  payload: Uint8Array;
}

/** Ethernet II. 802.1Q tags are not used on Skiff's networks and come back as their own ethertype. */
export function parseEthernet(frame: Uint8Array): Parsed<EthernetFrame> {
  if (frame.length < ETHERNET_HEADER_BYTES) return fail("TRUNCATED");
  if (frame.length > MAX_FRAME_BYTES) return fail("BAD_LENGTH");
  const etherType = (frame[12] << 8) | frame[13];
  // Values up to 1500 are 802.3 lengths, not types: not Ethernet II.
  if (etherType < 0x0600) return fail("UNSUPPORTED");
  return ok({
    dst: readMac(frame, 0),
    src: readMac(frame, 6),
    etherType,
    payload: frame.subarray(ETHERNET_HEADER_BYTES),
  });
}

export function buildEthernet(header: EthernetHeader, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(ETHERNET_HEADER_BYTES + payload.length);
  writeMac(frame, 0, header.dst);
  writeMac(frame, 6, header.src);
  frame[12] = header.etherType >>> 8;
  frame[13] = header.etherType & 0xff;
  frame.set(payload, ETHERNET_HEADER_BYTES);
  return frame;
}
