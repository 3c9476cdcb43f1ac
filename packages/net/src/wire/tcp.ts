import { foldChecksum, sumWords } from "./checksum.js";
import { IP_PROTO_TCP } from "./ipv4.js";
import { fail, ok, type Parsed } from "./result.js";

const MIN_HEADER_BYTES = 20;
const OPTION_END = 0;
const OPTION_NOP = 1;
const OPTION_MSS = 2;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** The flag bits (TCP_FIN, TCP_SYN, ...). */
  flags: number;
  window: number;
  /** The peer's maximum segment size (SYN option 2); undefined when absent. */
  mss?: number;
  payload: Uint8Array;
}

/**
 * RFC 9293 §3.1. `src`/`dst` are the IPv4 addresses, for the pseudo-header checksum, which must
 * hold. Options other than MSS are skipped; a malformed option list is refused.
 */
export function parseTcp(bytes: Uint8Array, src: number, dst: number): Parsed<TcpSegment> {
  if (bytes.length < MIN_HEADER_BYTES) return fail("TRUNCATED");
  const headerLength = (bytes[12] >>> 4) * 4;
  if (headerLength < MIN_HEADER_BYTES || headerLength > bytes.length) return fail("BAD_LENGTH");
  if (tcpChecksum(bytes, src, dst) !== 0) return fail("BAD_CHECKSUM");
  let mss: number | undefined;
  for (let i = MIN_HEADER_BYTES; i < headerLength; ) {
    const kind = bytes[i];
    if (kind === OPTION_END) break;
    if (kind === OPTION_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= headerLength) return fail("BAD_OPTION");
    const length = bytes[i + 1];
    if (length < 2 || i + length > headerLength) return fail("BAD_OPTION");
    if (kind === OPTION_MSS) {
      if (length !== 4) return fail("BAD_OPTION");
      mss = (bytes[i + 2] << 8) | bytes[i + 3];
    }
    i += length;
  }
  return ok({
    srcPort: (bytes[0] << 8) | bytes[1],
    dstPort: (bytes[2] << 8) | bytes[3],
    seq: readU32(bytes, 4),
    ack: readU32(bytes, 8),
    flags: bytes[13] & 0x3f,
    window: (bytes[14] << 8) | bytes[15],
    ...(mss === undefined ? {} : { mss }),
    payload: bytes.subarray(headerLength),
  });
}

/** A segment with its checksum; an MSS option is written when `mss` is set. */
export function buildTcp(segment: TcpSegment, src: number, dst: number): Buffer {
  const headerLength = MIN_HEADER_BYTES + (segment.mss === undefined ? 0 : 4);
  const out = Buffer.alloc(headerLength + segment.payload.length);
  out.writeUInt16BE(segment.srcPort, 0);
  out.writeUInt16BE(segment.dstPort, 2);
  out.writeUInt32BE(segment.seq >>> 0, 4);
  out.writeUInt32BE(segment.ack >>> 0, 8);
  out[12] = (headerLength / 4) << 4;
  out[13] = segment.flags & 0x3f;
  out.writeUInt16BE(segment.window, 14);
  if (segment.mss !== undefined) {
    out[20] = OPTION_MSS;
    out[21] = 4;
    out.writeUInt16BE(segment.mss, 22);
  }
  out.set(segment.payload, headerLength);
  out.writeUInt16BE(tcpChecksum(out, src, dst), 16);
  return out;
}

/** Over pseudo-header and segment; a segment carrying a right checksum gives 0. */
function tcpChecksum(segment: Uint8Array, src: number, dst: number): number {
  const pseudo =
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_PROTO_TCP + segment.length;
  return foldChecksum(sumWords(segment, 0, segment.length, pseudo));
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]) >>> 0
  );
}
