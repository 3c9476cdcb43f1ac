import { describe, expect, it } from "vitest";
import { macToNumber } from "./address.js";
import { buildEthernet, ETHERTYPE_IPV4, MAX_FRAME_BYTES, parseEthernet } from "./ethernet.js";

describe("ethernet", () => {
  it("builds and parses a frame", () => {
    const frame = buildEthernet(
      {
        dst: macToNumber("02:00:00:00:00:02"),
        src: macToNumber("02:00:00:00:00:01"),
        etherType: ETHERTYPE_IPV4,
      },
      Buffer.from([1, 2, 3]),
    );
    const parsed = parseEthernet(frame);
    expect(parsed.ok && parsed.value.dst).toBe(macToNumber("02:00:00:00:00:02"));
    expect(parsed.ok && parsed.value.src).toBe(macToNumber("02:00:00:00:00:01"));
    expect(parsed.ok && parsed.value.etherType).toBe(ETHERTYPE_IPV4);
    expect(parsed.ok && [...parsed.value.payload]).toEqual([1, 2, 3]);
  });

  it("refuses short, oversized and 802.3-length frames", () => {
    expect(parseEthernet(new Uint8Array(13))).toEqual({ ok: false, code: "TRUNCATED" });
    expect(parseEthernet(new Uint8Array(MAX_FRAME_BYTES + 1))).toEqual({ ok: false, code: "BAD_LENGTH" });
    const lengthFrame = new Uint8Array(60);
    lengthFrame[12] = 0x00;
    lengthFrame[13] = 46;
    expect(parseEthernet(lengthFrame)).toEqual({ ok: false, code: "UNSUPPORTED" });
  });
});
