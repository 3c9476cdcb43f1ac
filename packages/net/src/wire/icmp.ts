import { internetChecksum } from "./checksum.js";
import { fail, ok, type Parsed } from "./result.js";

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;

export interface IcmpEcho {
  type: number;
  code: number;
  id: number;
  seq: number;
  data: Uint8Array;
}

/** RFC 792 echo request/reply; other ICMP types are UNSUPPORTED. */
export function parseIcmpEcho(bytes: Uint8Array): Parsed<IcmpEcho> {
  if (bytes.length < 8) return fail("TRUNCATED");
  if (internetChecksum(bytes, 0, bytes.length) !== 0) return fail("BAD_CHECKSUM");
  const type = bytes[0];
  if (type !== ICMP_ECHO_REQUEST && type !== ICMP_ECHO_REPLY) return fail("UNSUPPORTED");
  return ok({
    type,
    code: bytes[1],
    id: (bytes[4] << 8) | bytes[5],
    seq: (bytes[6] << 8) | bytes[7],
    data: bytes.subarray(8),
  });
}

export function buildIcmpEcho(echo: IcmpEcho): Buffer {
  const out = Buffer.allocUnsafe(8 + echo.data.length);
  out[0] = echo.type;
  out[1] = echo.code;
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(echo.id, 4);
  out.writeUInt16BE(echo.seq, 6);
  out.set(echo.data, 8);
  out.writeUInt16BE(internetChecksum(out, 0, out.length), 2);
  return out;
}
