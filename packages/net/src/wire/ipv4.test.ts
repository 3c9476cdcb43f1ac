import { describe, expect, it } from "vitest";
import { ipv4ToNumber } from "./address.js";
import { buildIcmpEcho, ICMP_ECHO_REQUEST, parseIcmpEcho } from "./icmp.js";
import { buildIpv4, IP_PROTO_UDP, ipv4Header, parseIpv4 } from "./ipv4.js";
import { buildUdp, parseUdp } from "./udp.js";

const src = ipv4ToNumber("10.1.0.10");
const dst = ipv4ToNumber("10.1.0.1");

describe("ipv4, udp and icmp", () => {
  it("round-trips a UDP datagram in an IPv4 packet and cuts Ethernet padding", () => {
    const udp = buildUdp({ srcPort: 1234, dstPort: 7, payload: Buffer.from("hello") }, src, dst);
    const packet = Buffer.concat([buildIpv4(ipv4Header(src, dst, IP_PROTO_UDP), udp), Buffer.alloc(10)]);
    const ip = parseIpv4(packet);
    if (!ip.ok) throw new Error(ip.code);
    expect(ip.value).toMatchObject({ src, dst, protocol: IP_PROTO_UDP, ttl: 64, dontFragment: true });
    expect(ip.value.payload.length).toBe(udp.length);
    const parsed = parseUdp(ip.value.payload, src, dst);
    if (!parsed.ok) throw new Error(parsed.code);
    expect(parsed.value.srcPort).toBe(1234);
    expect(Buffer.from(parsed.value.payload).toString()).toBe("hello");
  });

  it("refuses a bad header checksum, version, lengths", () => {
    const packet = buildIpv4(ipv4Header(src, dst, IP_PROTO_UDP), Buffer.alloc(8));
    const corrupt = Buffer.from(packet);
    corrupt[8] ^= 1;
    expect(parseIpv4(corrupt)).toEqual({ ok: false, code: "BAD_CHECKSUM" });
    const v6 = Buffer.from(packet);
    v6[0] = 0x65;
    expect(parseIpv4(v6)).toEqual({ ok: false, code: "BAD_VERSION" });
    const ihl = Buffer.from(packet);
    ihl[0] = 0x44;
    expect(parseIpv4(ihl)).toEqual({ ok: false, code: "BAD_LENGTH" });
    expect(parseIpv4(packet.subarray(0, packet.length - 1))).toEqual({ ok: false, code: "BAD_LENGTH" });
    expect(parseIpv4(packet.subarray(0, 19))).toEqual({ ok: false, code: "TRUNCATED" });
  });

  it("refuses a bad UDP checksum or length, accepts checksum 0 (not sent)", () => {
    const udp = buildUdp({ srcPort: 1, dstPort: 2, payload: Buffer.from("abc") }, src, dst);
    const corrupt = Buffer.from(udp);
    corrupt[9] ^= 0xff;
    expect(parseUdp(corrupt, src, dst)).toEqual({ ok: false, code: "BAD_CHECKSUM" });
    corrupt.writeUInt16BE(0, 6);
    expect(parseUdp(corrupt, src, dst).ok).toBe(true);
    const long = Buffer.from(udp);
    long.writeUInt16BE(200, 4);
    expect(parseUdp(long, src, dst)).toEqual({ ok: false, code: "BAD_LENGTH" });
    expect(parseUdp(udp.subarray(0, 7), src, dst)).toEqual({ ok: false, code: "TRUNCATED" });
    // The pseudo-header is covered: the same bytes between other addresses fail.
    expect(parseUdp(udp, src, src)).toEqual({ ok: false, code: "BAD_CHECKSUM" });
  });

  it("round-trips an ICMP echo and refuses corrupt or other types", () => {
    const echo = { type: ICMP_ECHO_REQUEST, code: 0, id: 7, seq: 3, data: Buffer.from("ping!") };
    const bytes = buildIcmpEcho(echo);
    const parsed = parseIcmpEcho(bytes);
    expect(parsed.ok && parsed.value.seq).toBe(3);
    const corrupt = Buffer.from(bytes);
    corrupt[9] ^= 1;
    expect(parseIcmpEcho(corrupt)).toEqual({ ok: false, code: "BAD_CHECKSUM" });
    const unreachable = buildIcmpEcho({ ...echo, type: 3 });
    expect(parseIcmpEcho(unreachable)).toEqual({ ok: false, code: "UNSUPPORTED" });
    expect(parseIcmpEcho(bytes.subarray(0, 7))).toEqual({ ok: false, code: "TRUNCATED" });
  });
});
