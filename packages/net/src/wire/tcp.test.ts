import { describe, expect, it } from "vitest";
import { ipv4ToNumber } from "./address.js";
import { buildTcp, parseTcp, TCP_ACK, TCP_SYN } from "./tcp.js";

const SRC = ipv4ToNumber("10.1.0.10");
const DST = ipv4ToNumber("169.254.169.254");

describe("tcp", () => {
  it("round-trips a segment with its MSS option and checksum", () => {
    const bytes = buildTcp(
      {
        srcPort: 40000,
        dstPort: 80,
        seq: 0xfffffff0,
        ack: 7,
        flags: TCP_SYN | TCP_ACK,
        window: 512,
        mss: 1460,
        payload: Buffer.from("hi"),
      },
      SRC,
      DST,
    );
    const parsed = parseTcp(bytes, SRC, DST);
    expect(parsed).toEqual({
      ok: true,
      value: {
        srcPort: 40000,
        dstPort: 80,
        seq: 0xfffffff0,
        ack: 7,
        flags: TCP_SYN | TCP_ACK,
        window: 512,
        mss: 1460,
        payload: Buffer.from("hi"),
      },
    });
  });

  it("refuses a wrong checksum, a bad header length and a malformed option list", () => {
    const good = buildTcp(
      { srcPort: 1, dstPort: 80, seq: 1, ack: 0, flags: TCP_ACK, window: 1, payload: Buffer.alloc(0) },
      SRC,
      DST,
    );
    expect(parseTcp(good, SRC, ipv4ToNumber("10.1.0.11"))).toEqual({ ok: false, code: "BAD_CHECKSUM" });
    expect(parseTcp(good.subarray(0, 19), SRC, DST)).toEqual({ ok: false, code: "TRUNCATED" });
    const long = Buffer.from(good);
    long[12] = 15 << 4;
    expect(parseTcp(long, SRC, DST)).toEqual({ ok: false, code: "BAD_LENGTH" });
    // An MSS option whose length byte runs past the header.
    const withMss = buildTcp(
      {
        srcPort: 1,
        dstPort: 80,
        seq: 1,
        ack: 0,
        flags: TCP_SYN,
        window: 1,
        mss: 1000,
        payload: Buffer.alloc(0),
      },
      SRC,
      DST,
    );
    const broken = Buffer.from(withMss);
    broken[21] = 9;
    broken.writeUInt16BE(0, 16);
    broken.writeUInt16BE(checksumFix(broken), 16);
    expect(parseTcp(broken, SRC, DST)).toEqual({ ok: false, code: "BAD_OPTION" });
  });
});

/** Recomputes the checksum of an edited segment, so only the edit is wrong. */
function checksumFix(segment: Buffer): number {
  let sum = (SRC >>> 16) + (SRC & 0xffff) + (DST >>> 16) + (DST & 0xffff) + 6 + segment.length;
  for (let i = 0; i < segment.length; i += 2) sum += (segment[i] << 8) | (segment[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
