/**
 * Transmit-side segmentation for virtio-net (VIRTIO_NET_F_HOST_TSO4, virtio 1.1 §5.1.6.2): a guest
 * hands the device one large TCP/IPv4 packet and the segment size; the device cuts it into frames
 * the network carries (what a NIC's TSO does). The guest's stack then runs once per large packet
 * instead of once per segment. Every frame leaves with its own IP length, id and checksum, its own
 * sequence number and a complete TCP checksum: it may reach another host's kernel.
 */

import { sentChecksum } from "./inet-checksum.js";

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_TCP = 6;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;

/**
 * `frame` cut into frames of at most `mss` payload bytes each, or null when it is no TCP/IPv4
 * packet the device can segment (the caller drops it as malformed).
 */
export function segmentTcp(frame: Uint8Array, mss: number): Uint8Array[] | null {
  if (mss <= 0 || frame.length < ETH_HLEN + 20 || ((frame[12]! << 8) | frame[13]!) !== ETHERTYPE_IPV4) {
    return null;
  }
  const ip = ETH_HLEN;
  const ipHeader = (frame[ip]! & 0x0f) * 4;
  if (frame[ip]! >> 4 !== 4 || ipHeader < 20 || frame[ip + 9] !== IPPROTO_TCP) return null;
  const tcp = ip + ipHeader;
  if (frame.length < tcp + 20) return null;
  const tcpHeader = (frame[tcp + 12]! >> 4) * 4;
  const payloadAt = tcp + tcpHeader;
  if (tcpHeader < 20 || frame.length < payloadAt) return null;
  const payload = frame.length - payloadAt;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const id = view.getUint16(ip + 4);
  const seq = view.getUint32(tcp + 4);
  const flags = frame[tcp + 13]!;
  const out: Uint8Array[] = [];
  for (let at = 0, i = 0; at < payload || (payload === 0 && i === 0); at += mss, i++) {
    const n = Math.min(mss, payload - at);
    const last = at + n >= payload;
    const f = new Uint8Array(payloadAt + n);
    f.set(frame.subarray(0, payloadAt));
    f.set(frame.subarray(payloadAt + at, payloadAt + at + n), payloadAt);
    const v = new DataView(f.buffer);
    v.setUint16(ip + 2, f.length - ETH_HLEN);
    v.setUint16(ip + 4, (id + i) & 0xffff);
    v.setUint16(ip + 10, 0);
    v.setUint16(ip + 10, sentChecksum(f, ip, tcp));
    v.setUint32(tcp + 4, (seq + at) >>> 0);
    // FIN and PSH belong to the last segment, CWR to the first (as Linux's tcp_gso_segment).
    f[tcp + 13] = flags & ~((last ? 0 : TCP_FIN | TCP_PSH) | (i === 0 ? 0 : TCP_CWR));
    v.setUint16(tcp + 16, 0);
    v.setUint16(tcp + 16, sentChecksum(f, tcp, f.length, pseudoHeader(f, ip, f.length - tcp)));
    out.push(f);
  }
  return out;
}

/** The pseudo-header's sum (RFC 793 §3.1): addresses, protocol, TCP length. */
function pseudoHeader(f: Uint8Array, ip: number, tcpLength: number): number {
  let sum = IPPROTO_TCP + tcpLength;
  for (let i = ip + 12; i < ip + 20; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
  return sum;
}
