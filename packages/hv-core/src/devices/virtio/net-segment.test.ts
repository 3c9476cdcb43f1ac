import { describe, expect, it } from "vitest";
import { segmentTcp } from "./net-segment.js";

const PAYLOAD_AT = 14 + 20 + 32;

/** A TSO packet as Linux hands it over: 10.0.0.1:9 → 10.0.0.2:5001, timestamps, checksums left to the device. */
function tsoPacket(payload: number, flags = 0x18, seq = 0xfffff000): Uint8Array {
  const f = new Uint8Array(PAYLOAD_AT + payload);
  const v = new DataView(f.buffer);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
  f.set([0x45, 0, 0, 0, 0xff, 0xfe, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  v.setUint16(34, 9);
  v.setUint16(36, 5001);
  v.setUint32(38, seq);
  v.setUint32(42, 12345);
  f[46] = 8 << 4;
  f[47] = flags;
  v.setUint16(48, 1000);
  f.set([1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9], 54);
  for (let i = 0; i < payload; i++) f[PAYLOAD_AT + i] = (i * 7) & 0xff;
  return f;
}

/** The ones' complement sum over `bytes` onto `sum`, folded: 0xffff when a checksum inside checks out. */
function onesSum(bytes: Uint8Array, sum = 0): number {
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function tcpChecksumOk(f: Uint8Array): boolean {
  const tcpLength = f.length - 34;
  let pseudo = 6 + tcpLength;
  for (let i = 26; i < 34; i += 2) pseudo += (f[i]! << 8) | f[i + 1]!;
  return onesSum(f.subarray(34), pseudo) === 0xffff;
}

describe("segmentTcp", () => {
  it("cuts a large packet into segments a receiver's kernel takes: lengths, ids, seqs, flags and checksums of their own", () => {
    const packet = tsoPacket(3000, 0x19); // ACK, PSH, FIN
    const segs = segmentTcp(packet, 1448)!;
    expect(segs.map((s) => s.length - PAYLOAD_AT)).toEqual([1448, 1448, 104]);
    segs.forEach((s, i) => {
      const v = new DataView(s.buffer);
      expect(v.getUint16(16)).toBe(s.length - 14);
      expect(v.getUint16(18)).toBe((0xfffe + i) & 0xffff);
      expect(onesSum(s.subarray(14, 34))).toBe(0xffff);
      expect(v.getUint32(38)).toBe((0xfffff000 + i * 1448) >>> 0); // wraps past 2^32
      expect(s[47]).toBe(i === 2 ? 0x19 : 0x10);
      expect(tcpChecksumOk(s)).toBe(true);
      expect(s.subarray(48, 50)).toEqual(packet.subarray(48, 50)); // window
      expect(s.subarray(52, PAYLOAD_AT)).toEqual(packet.subarray(52, PAYLOAD_AT)); // urgent pointer, options
    });
    expect(Uint8Array.from(segs.flatMap((s) => [...s.subarray(PAYLOAD_AT)]))).toEqual(
      packet.subarray(PAYLOAD_AT),
    );
  });

  it("sends a packet no larger than one segment as it is, its checksums done", () => {
    const [one, ...rest] = segmentTcp(tsoPacket(501), 1448)!;
    expect(rest).toEqual([]);
    expect(one!.length).toBe(PAYLOAD_AT + 501);
    expect(tcpChecksumOk(one!)).toBe(true);
  });

  it("refuses what is no TCP/IPv4 packet, or a header longer than the frame", () => {
    const udp = tsoPacket(100);
    udp[23] = 17;
    expect(segmentTcp(udp, 1448)).toBeNull();
    expect(segmentTcp(tsoPacket(100).subarray(0, 50), 1448)).toBeNull();
    const arp = new Uint8Array(60);
    arp.set([0x08, 0x06], 12);
    expect(segmentTcp(arp, 1448)).toBeNull();
    expect(segmentTcp(tsoPacket(100), 0)).toBeNull();
  });
});
