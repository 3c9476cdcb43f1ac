import { readIpv4, writeIpv4 } from "./address.js";
import { internetChecksum } from "./checksum.js";
import { fail, ok, type Parsed } from "./result.js";

export const IP_PROTO_ICMP = 1;
export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;
const MIN_HEADER_BYTES = 20;

export interface Ipv4Header {
  tos: number;
  id: number;
  /** Don't Fragment. */
  dontFragment: boolean;
  moreFragments: boolean;
  /** In 8-byte units. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
}

export interface Ipv4Packet extends Ipv4Header {
  headerLength: number;
  /** The payload up to the header's total length (Ethernet padding cut off). */
  payload: Uint8Array;
}

/** RFC 791. Options are skipped; the header checksum must hold. */
export function parseIpv4(bytes: Uint8Array): Parsed<Ipv4Packet> {
  if (bytes.length < MIN_HEADER_BYTES) return fail("TRUNCATED");
  if (bytes[0] >>> 4 !== 4) return fail("BAD_VERSION");
  const headerLength = (bytes[0] & 0x0f) * 4;
  if (headerLength < MIN_HEADER_BYTES) return fail("BAD_LENGTH");
  const totalLength = (bytes[2] << 8) | bytes[3];
  if (totalLength < headerLength || totalLength > bytes.length) return fail("BAD_LENGTH");
  if (internetChecksum(bytes, 0, headerLength) !== 0) return fail("BAD_CHECKSUM");
  const flagsFragment = (bytes[6] << 8) | bytes[7];
  return ok({
    tos: bytes[1],
    id: (bytes[4] << 8) | bytes[5],
    dontFragment: (flagsFragment & 0x4000) !== 0,
    moreFragments: (flagsFragment & 0x2000) !== 0,
    fragmentOffset: flagsFragment & 0x1fff,
    ttl: bytes[8],
    protocol: bytes[9],
    src: readIpv4(bytes, 12),
    dst: readIpv4(bytes, 16),
    headerLength,
    payload: bytes.subarray(headerLength, totalLength),
  });
}

/** A 20-byte header (no options) with its checksum, followed by `payload`. */
export function buildIpv4(header: Ipv4Header, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(MIN_HEADER_BYTES + payload.length);
  out[0] = 0x45;
  out[1] = header.tos;
  out.writeUInt16BE(out.length, 2);
  out.writeUInt16BE(header.id, 4);
  const flags = (header.dontFragment ? 0x4000 : 0) | (header.moreFragments ? 0x2000 : 0);
  out.writeUInt16BE(flags | (header.fragmentOffset & 0x1fff), 6);
  out[8] = header.ttl;
  out[9] = header.protocol;
  out.writeUInt16BE(0, 10);
  writeIpv4(out, 12, header.src);
  writeIpv4(out, 16, header.dst);
  out.writeUInt16BE(internetChecksum(out, 0, MIN_HEADER_BYTES), 10);
  out.set(payload, MIN_HEADER_BYTES);
  return out;
}

export function ipv4Header(src: number, dst: number, protocol: number): Ipv4Header {
  return {
    tos: 0,
    id: 0,
    dontFragment: true,
    moreFragments: false,
    fragmentOffset: 0,
    ttl: 64,
    protocol,
    src,
    dst,
  };
}
