import { describe, expect, it } from "vitest";
import { BROADCAST_MAC, ipv4ToNumber, macToNumber } from "./address.js";
import { ARP_REPLY, ARP_REQUEST, buildArp, buildArpReplyFrame, buildGratuitousArp, parseArp } from "./arp.js";
import { ETHERTYPE_ARP, parseEthernet } from "./ethernet.js";

const macA = macToNumber("02:00:00:00:00:0a");
const macB = macToNumber("02:00:00:00:00:0b");
const ipA = ipv4ToNumber("10.1.0.10");
const ipB = ipv4ToNumber("10.1.0.11");

describe("arp", () => {
  it("round-trips a request, also with Ethernet padding after it", () => {
    const request = { op: ARP_REQUEST, senderMac: macA, senderIp: ipA, targetMac: 0, targetIp: ipB };
    const padded = Buffer.concat([buildArp(request), Buffer.alloc(18)]);
    expect(parseArp(padded)).toEqual({ ok: true, value: request });
  });

  it("builds the reply to a request", () => {
    const request = { op: ARP_REQUEST, senderMac: macA, senderIp: ipA, targetMac: 0, targetIp: ipB };
    const eth = parseEthernet(buildArpReplyFrame(request, macB));
    expect(eth.ok).toBe(true);
    if (!eth.ok) return;
    expect(eth.value).toMatchObject({ dst: macA, src: macB, etherType: ETHERTYPE_ARP });
    expect(parseArp(eth.value.payload)).toEqual({
      ok: true,
      value: { op: ARP_REPLY, senderMac: macB, senderIp: ipB, targetMac: macA, targetIp: ipA },
    });
  });

  it("builds a gratuitous ARP: broadcast request for one's own address", () => {
    const eth = parseEthernet(buildGratuitousArp(macA, ipA));
    if (!eth.ok) throw new Error("unparsable");
    expect(eth.value.dst).toBe(BROADCAST_MAC);
    const arp = parseArp(eth.value.payload);
    expect(arp.ok && arp.value).toMatchObject({
      op: ARP_REQUEST,
      senderIp: ipA,
      targetIp: ipA,
      senderMac: macA,
    });
  });

  it("refuses truncated, non-IPv4 and unknown-op packets", () => {
    const good = buildArp({ op: ARP_REQUEST, senderMac: macA, senderIp: ipA, targetMac: 0, targetIp: ipB });
    expect(parseArp(good.subarray(0, 27))).toEqual({ ok: false, code: "TRUNCATED" });
    const ipv6 = Buffer.from(good);
    ipv6.writeUInt16BE(0x86dd, 2);
    expect(parseArp(ipv6)).toEqual({ ok: false, code: "UNSUPPORTED" });
    const op = Buffer.from(good);
    op.writeUInt16BE(9, 6);
    expect(parseArp(op)).toEqual({ ok: false, code: "UNSUPPORTED" });
  });
});
