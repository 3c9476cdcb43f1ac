import { describe, expect, it } from "vitest";
import { coalesceTcp } from "./net-coalesce.js";

const MSS = 1448;
const TCP_ACK = 0x10;
const TCP_PSH = 0x08;

/** An IPv4/TCP segment of flow 10.0.0.1:5001 → 10.0.0.2:9 with a timestamp option, IP checksum set. */
function segment(
  seq: number,
  payload: number,
  o: { flags?: number; tsval?: number; dport?: number; fill?: number } = {},
) {
  const tcpLen = 32;
  const f = new Uint8Array(14 + 20 + tcpLen + payload);
  const v = new DataView(f.buffer);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
  f.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  v.setUint16(16, 20 + tcpLen + payload);
  v.setUint16(24, ipChecksum(f));
  const t = 34;
  v.setUint16(t, 5001);
  v.setUint16(t + 2, o.dport ?? 9);
  v.setUint32(t + 4, seq >>> 0);
  v.setUint32(t + 8, 777);
  f[t + 12] = (tcpLen / 4) << 4;
  f[t + 13] = o.flags ?? TCP_ACK;
  v.setUint16(t + 14, 500);
  f.set([1, 1, 8, 10], t + 20);
  v.setUint32(t + 24, o.tsval ?? 1000);
  f.fill(o.fill ?? seq & 0xff, t + tcpLen);
  return f;
}

function ipChecksum(f: Uint8Array): number {
  let sum = 0;
  for (let i = 14; i < 34; i += 2) if (i !== 24) sum += (f[i]! << 8) | f[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const PAYLOAD_AT = 14 + 20 + 32;

describe("coalesceTcp", () => {
  it("merges neighbouring segments of one flow: payloads in order, IP length and checksum redone, PSH of the last", () => {
    const s = [
      segment(100, MSS),
      segment(100 + MSS, MSS),
      segment(100 + 2 * MSS, 300, { flags: TCP_ACK | TCP_PSH }),
    ];
    const [p, ...rest] = coalesceTcp(s, 65549);
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ segments: 3, mss: MSS, headerLength: PAYLOAD_AT });
    const f = p!.frame;
    expect(f.length).toBe(PAYLOAD_AT + 2 * MSS + 300);
    expect(f.subarray(0, 16)).toEqual(s[0]!.subarray(0, 16));
    expect((f[16]! << 8) | f[17]!).toBe(f.length - 14);
    expect((f[24]! << 8) | f[25]!).toBe(ipChecksum(f));
    expect(f[34 + 13]).toBe(TCP_ACK | TCP_PSH);
    expect(f.subarray(34 + 4, 34 + 8)).toEqual(s[0]!.subarray(34 + 4, 34 + 8)); // the first's seq
    expect(f.subarray(PAYLOAD_AT)).toEqual(
      Uint8Array.from([
        ...s[0]!.subarray(PAYLOAD_AT),
        ...s[1]!.subarray(PAYLOAD_AT),
        ...s[2]!.subarray(PAYLOAD_AT),
      ]),
    );
  });

  it("keeps apart what Linux's GRO would not merge, in the order it came", () => {
    const cases: Uint8Array[][] = [
      [segment(100, MSS), segment(100 + MSS + 1, MSS)], // a gap in the sequence
      [segment(100, MSS), segment(100 + MSS, MSS, { dport: 10 })], // another flow
      [segment(100, MSS), segment(100 + MSS, MSS, { tsval: 1001 })], // other options
      [segment(100, MSS, { flags: TCP_ACK | TCP_PSH }), segment(100 + MSS, MSS)], // PSH ends a merge
      [segment(100, MSS), segment(100 + MSS, MSS, { flags: TCP_ACK | 0x01 })], // FIN
      [segment(100, 500), segment(600, 500 + 1)], // larger than the first
    ];
    for (const frames of cases) {
      const out = coalesceTcp(frames, 65549);
      expect(out.map((p) => p.segments)).toEqual([1, 1]);
      expect(out.map((p) => p.frame)).toEqual(frames);
    }
    // A short segment ends a merge; the next one starts another.
    const short = [segment(100, MSS), segment(100 + MSS, 10), segment(110 + MSS, MSS)];
    expect(coalesceTcp(short, 65549).map((p) => p.segments)).toEqual([2, 1]);
  });

  it("leaves other frames and damaged headers alone, and merges no further than the limit", () => {
    const arp = new Uint8Array(42);
    arp.set([0x08, 0x06], 12);
    const bad = segment(100 + MSS, MSS);
    bad[24]! ^= 1; // IP header checksum
    const out = coalesceTcp([segment(100, MSS), arp, segment(100 + MSS, MSS), bad], 65549);
    expect(out.map((p) => p.segments)).toEqual([1, 1, 1, 1]);
    const many = Array.from({ length: 50 }, (_, i) => segment(100 + i * MSS, MSS));
    const merged = coalesceTcp(many, 65549);
    expect(merged.map((p) => p.segments)).toEqual([45, 5]);
    expect(Math.max(...merged.map((p) => p.frame.length))).toBeLessThanOrEqual(65549);
    expect(coalesceTcp(many.slice(0, 4), PAYLOAD_AT + 2 * MSS).map((p) => p.segments)).toEqual([2, 2]);
  });
});
