import { describe, expect, it } from "vitest";
import {
  cidrContains,
  ipv4ToNumber,
  ipv4ToString,
  isGroupMac,
  macToNumber,
  macToString,
  parseCidr,
  readMac,
  writeMac,
} from "./address.js";

describe("addresses", () => {
  it("round-trips MACs through strings, numbers and bytes", () => {
    const mac = macToNumber("fe:dc:ba:98:76:54");
    expect(macToString(mac)).toBe("fe:dc:ba:98:76:54");
    const buf = new Uint8Array(8);
    writeMac(buf, 1, mac);
    expect([...buf]).toEqual([0, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0]);
    expect(readMac(buf, 1)).toBe(mac);
    expect(isGroupMac(mac)).toBe(false);
    expect(isGroupMac(macToNumber("01:00:5e:00:00:01"))).toBe(true);
    expect(isGroupMac(0xffff_ffff_ffff)).toBe(true);
  });

  it("round-trips IPv4 and checks CIDRs", () => {
    expect(ipv4ToString(ipv4ToNumber("255.1.0.254"))).toBe("255.1.0.254");
    const net = parseCidr("10.1.0.0/24");
    expect(cidrContains(net, ipv4ToNumber("10.1.0.77"))).toBe(true);
    expect(cidrContains(net, ipv4ToNumber("10.1.1.1"))).toBe(false);
  });

  it("refuses malformed map input with a code", () => {
    expect(() => macToNumber("02:00:00:00:00")).toThrow(expect.objectContaining({ code: "NET_BAD_MAC" }));
    expect(() => ipv4ToNumber("10.0.0.256")).toThrow(expect.objectContaining({ code: "NET_BAD_IPV4" }));
    expect(() => parseCidr("10.1.0.1/24")).toThrow(expect.objectContaining({ code: "NET_BAD_CIDR" }));
    expect(() => parseCidr("10.1.0.0/33")).toThrow(expect.objectContaining({ code: "NET_BAD_CIDR" }));
  });
});
