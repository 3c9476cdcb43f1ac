import { foldChecksum, sumWords } from "./checksum.js";
import { IP_PROTO_UDP } from "./ipv4.js";
import { fail, ok, type Parsed } from "./result.js";

const UDP_HEADER_BYTES = 8;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** RFC 768. `src`/`dst` are the IPv4 addresses, for the pseudo-header checksum (0 means "not sent"). */
export function parseUdp(bytes: Uint8Array, src: number, dst: number): Parsed<UdpDatagram> {
  if (bytes.length < UDP_HEADER_BYTES) return fail("TRUNCATED");
  const length = (bytes[4] << 8) | bytes[5];
  if (length < UDP_HEADER_BYTES || length > bytes.length) return fail("BAD_LENGTH");
  const checksum = (bytes[6] << 8) | bytes[7];
  if (checksum !== 0 && udpChecksum(bytes.subarray(0, length), src, dst) !== 0) return fail("BAD_CHECKSUM");
  return ok({
    srcPort: (bytes[0] << 8) | bytes[1],
    dstPort: (bytes[2] << 8) | bytes[3],
    payload: bytes.subarray(UDP_HEADER_BYTES, length),
  });
}

export function buildUdp(datagram: UdpDatagram, src: number, dst: number): Buffer {
  const out = Buffer.allocUnsafe(UDP_HEADER_BYTES + datagram.payload.length);
  out.writeUInt16BE(datagram.srcPort, 0);
  out.writeUInt16BE(datagram.dstPort, 2);
  out.writeUInt16BE(out.length, 4);
  out.writeUInt16BE(0, 6);
  out.set(datagram.payload, UDP_HEADER_BYTES);
  // A computed 0 is sent as 0xffff: 0 would mean "no checksum".
  out.writeUInt16BE(udpChecksum(out, src, dst) || 0xffff, 6);
  return out;
}

/** Over pseudo-header and segment; a segment carrying a right checksum gives 0. */
function udpChecksum(segment: Uint8Array, src: number, dst: number): number {
  const pseudo =
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_PROTO_UDP + segment.length;
  return foldChecksum(sumWords(segment, 0, segment.length, pseudo));
}
