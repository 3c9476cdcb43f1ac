import { fail, ok, type Parsed } from "./result.js";

export const VXLAN_HEADER_BYTES = 8;
export const MAX_VNI = 0xff_ffff;
const FLAG_I = 0x08;

export interface VxlanPacket {
  vni: number;
  frame: Uint8Array;
}

/** RFC 7348 §5: the I flag must be set; reserved bits are ignored on receipt. */
export function parseVxlan(bytes: Uint8Array): Parsed<VxlanPacket> {
  if (bytes.length < VXLAN_HEADER_BYTES) return fail("TRUNCATED");
  if ((bytes[0] & FLAG_I) === 0) return fail("BAD_FLAGS");
  return ok({
    vni: (bytes[4] << 16) | (bytes[5] << 8) | bytes[6],
    frame: bytes.subarray(VXLAN_HEADER_BYTES),
  });
}

export function writeVxlanHeader(out: Uint8Array, vni: number): void {
  out[0] = FLAG_I;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  out[4] = (vni >>> 16) & 0xff;
  out[5] = (vni >>> 8) & 0xff;
  out[6] = vni & 0xff;
  out[7] = 0;
}

export function buildVxlan(vni: number, frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(VXLAN_HEADER_BYTES + frame.length);
  writeVxlanHeader(out, vni);
  out.set(frame, VXLAN_HEADER_BYTES);
  return out;
}
