import { describe, expect, it } from "vitest";
import { buildVxlan, parseVxlan } from "./vxlan.js";

describe("vxlan", () => {
  it("round-trips VNI and inner frame", () => {
    const packet = buildVxlan(0xabcdef, Buffer.from([9, 8, 7]));
    expect([...packet.subarray(0, 8)]).toEqual([0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
    const parsed = parseVxlan(packet);
    expect(parsed.ok && parsed.value.vni).toBe(0xabcdef);
    expect(parsed.ok && [...parsed.value.frame]).toEqual([9, 8, 7]);
  });

  it("ignores reserved bits, refuses a missing I flag or a short header", () => {
    const packet = buildVxlan(5, Buffer.alloc(14));
    packet[1] = 0xff;
    packet[7] = 0xff;
    expect(parseVxlan(packet).ok).toBe(true);
    packet[0] = 0;
    expect(parseVxlan(packet)).toEqual({ ok: false, code: "BAD_FLAGS" });
    expect(parseVxlan(new Uint8Array(7))).toEqual({ ok: false, code: "TRUNCATED" });
  });
});
