/**
 * Receive-side coalescing for virtio-net (what a NIC's LRO does): consecutive TCP segments of one
 * flow that reach the device together become one large frame the guest takes as a GSO packet
 * (VIRTIO_NET_HDR_GSO_TCPV4). The guest's driver, GRO, IP and TCP then run once per merged frame
 * instead of once per segment, and its TCP acknowledges once per merged frame.
 *
 * Only what Linux's own GRO would merge is merged: IPv4 without options or fragments, the same
 * Ethernet, IP and TCP headers but for the sequence number (and PSH on the last), a valid IP
 * header checksum, every segment but the last exactly the first one's size. The order of frames is
 * kept: only neighbours merge.
 */

import { internetChecksum } from "./inet-checksum.js";

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const IP_HLEN = 20;
const IPPROTO_TCP = 6;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;
/** An IPv4 packet's total length field bounds a merged frame. */
const MAX_IP_LENGTH = 0xffff;

/** A frame for the guest: as it came, or `segments` TCP segments of `mss` payload bytes merged. */
export interface RxPacket {
  readonly frame: Uint8Array;
  readonly segments: number;
  /** Payload bytes per segment (the last may carry fewer); 0 when nothing was merged. */
  readonly mss: number;
  /** Ethernet, IP and TCP header bytes before the payload (0 when nothing was merged). */
  readonly headerLength: number;
}

/** Where a mergeable segment's parts are: headers end at `payloadAt`, the payload runs `payloadLength`. */
interface Segment {
  readonly frame: Uint8Array;
  readonly payloadAt: number;
  readonly payloadLength: number;
  readonly seq: number;
  readonly flags: number;
}

/** Reads `f` as a TCP segment that may take part in a merge, or null. */
function mergeableSegment(f: Uint8Array): Segment | null {
  if (f.length < ETH_HLEN + IP_HLEN + 20) return null;
  if (((f[12]! << 8) | f[13]!) !== ETHERTYPE_IPV4) return null;
  const ip = ETH_HLEN;
  // Version 4 without options; not a fragment (DF alone allowed); TCP.
  if (f[ip] !== 0x45 || (f[ip + 6]! & 0xbf) !== 0 || f[ip + 7] !== 0 || f[ip + 9] !== IPPROTO_TCP)
    return null;
  const ipLength = (f[ip + 2]! << 8) | f[ip + 3]!;
  if (ipLength > f.length - ETH_HLEN || internetChecksum(f, ip, ip + IP_HLEN) !== 0) return null;
  const tcp = ip + IP_HLEN;
  const tcpLength = (f[tcp + 12]! >> 4) * 4;
  const flags = f[tcp + 13]!;
  // Plain data: ACK, and PSH on the segment that ends a merge; no urgent data.
  if ((flags & ~TCP_PSH) !== TCP_ACK || f[tcp + 18] !== 0 || f[tcp + 19] !== 0) return null;
  const payloadAt = tcp + tcpLength;
  const payloadLength = ETH_HLEN + ipLength - payloadAt;
  if (tcpLength < 20 || payloadLength <= 0) return null;
  const seq = ((f[tcp + 4]! << 24) | (f[tcp + 5]! << 16) | (f[tcp + 6]! << 8) | f[tcp + 7]!) >>> 0;
  return { frame: f, payloadAt, payloadLength, seq, flags };
}

/** Whether `next` continues `first`'s flow right after `last`: same headers but seq, IP id and checksums. */
function continues(first: Segment, last: Segment, next: Segment): boolean {
  if (next.payloadAt !== first.payloadAt || next.seq !== (last.seq + last.payloadLength) >>> 0) return false;
  const a = first.frame;
  const b = next.frame;
  const ip = ETH_HLEN;
  const tcp = ip + IP_HLEN;
  // Ethernet header; IP TOS; DF, TTL, protocol, addresses; ports; ack, offset, window, options.
  return (
    same(a, b, 0, ETH_HLEN) &&
    a[ip + 1] === b[ip + 1] &&
    same(a, b, ip + 6, ip + 10) &&
    same(a, b, ip + 12, tcp + 4) &&
    same(a, b, tcp + 8, tcp + 13) &&
    same(a, b, tcp + 14, tcp + 16) &&
    same(a, b, tcp + 20, first.payloadAt)
  );
}

function same(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A frame passed to the guest as it came. */
export function single(frame: Uint8Array): RxPacket {
  return { frame, segments: 1, mss: 0, headerLength: 0 };
}

/** One frame holding the segments' headers (the first's, the last's flags) and all their payloads. */
function merge(run: readonly Segment[]): RxPacket {
  const first = run[0]!;
  const last = run[run.length - 1]!;
  if (run.length === 1) return single(first.frame);
  let payload = 0;
  for (const s of run) payload += s.payloadLength;
  const out = new Uint8Array(first.payloadAt + payload);
  out.set(first.frame.subarray(0, first.payloadAt));
  let at = first.payloadAt;
  for (const s of run) {
    out.set(s.frame.subarray(s.payloadAt, s.payloadAt + s.payloadLength), at);
    at += s.payloadLength;
  }
  const ip = ETH_HLEN;
  const ipLength = out.length - ETH_HLEN;
  out[ip + 2] = ipLength >>> 8;
  out[ip + 3] = ipLength & 0xff;
  out[ip + 10] = 0;
  out[ip + 11] = 0;
  const sum = internetChecksum(out, ip, ip + IP_HLEN);
  out[ip + 10] = sum >>> 8;
  out[ip + 11] = sum & 0xff;
  out[ip + IP_HLEN + 13] = last.flags;
  // The TCP checksum stays the first segment's: the frame reaches the guest marked DATA_VALID.
  return { frame: out, segments: run.length, mss: first.payloadLength, headerLength: first.payloadAt };
}

/**
 * The frames as the guest should get them, in order, neighbouring segments of one TCP flow merged
 * up to `maxFrame` bytes (a frame, not counting the virtio header).
 */
export function coalesceTcp(frames: readonly Uint8Array[], maxFrame: number): RxPacket[] {
  const out: RxPacket[] = [];
  let run: Segment[] = [];
  let runBytes = 0;
  const close = () => {
    if (run.length > 0) out.push(merge(run));
    run = [];
  };
  for (const frame of frames) {
    const seg = mergeableSegment(frame);
    if (seg === null) {
      close();
      out.push(single(frame));
      continue;
    }
    const first = run[0];
    const last = run[run.length - 1];
    const fits =
      first !== undefined &&
      last !== undefined &&
      // Every segment but the last is full-sized; PSH ends a merge.
      last.payloadLength === first.payloadLength &&
      (last.flags & TCP_PSH) === 0 &&
      seg.payloadLength <= first.payloadLength &&
      runBytes + seg.payloadLength <= maxFrame &&
      runBytes + seg.payloadLength - ETH_HLEN <= MAX_IP_LENGTH &&
      continues(first, last, seg);
    if (!fits) {
      close();
      runBytes = seg.payloadAt;
    }
    run.push(seg);
    runBytes += seg.payloadLength;
  }
  close();
  return out;
}
