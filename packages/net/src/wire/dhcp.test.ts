import { describe, expect, it } from "vitest";
import { ipv4ToNumber, macToNumber } from "./address.js";
import {
  buildDhcp,
  DhcpMessageType,
  DhcpOption,
  ipv4Option,
  parseDhcp,
  readIpv4Option,
  u32Option,
} from "./dhcp.js";

const mac = macToNumber("02:00:00:00:00:0a");

function discover() {
  return buildDhcp({
    op: 1,
    xid: 0xdeadbeef,
    secs: 0,
    broadcast: true,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: 0,
    chaddr: mac,
    messageType: DhcpMessageType.DISCOVER,
    options: new Map([[DhcpOption.HOSTNAME, Buffer.from("web1")]]),
  });
}

describe("dhcp", () => {
  it("round-trips a message with options", () => {
    const offer = buildDhcp({
      op: 2,
      xid: 1,
      secs: 0,
      broadcast: false,
      ciaddr: 0,
      yiaddr: ipv4ToNumber("10.1.0.10"),
      siaddr: 0,
      giaddr: 0,
      chaddr: mac,
      messageType: DhcpMessageType.OFFER,
      options: new Map([
        [DhcpOption.SERVER_ID, ipv4Option(ipv4ToNumber("10.1.0.1"))],
        [DhcpOption.LEASE_TIME, u32Option(86400)],
      ]),
    });
    const parsed = parseDhcp(offer);
    if (!parsed.ok) throw new Error(parsed.code);
    expect(parsed.value).toMatchObject({ op: 2, xid: 1, messageType: DhcpMessageType.OFFER, chaddr: mac });
    expect(readIpv4Option(parsed.value, DhcpOption.SERVER_ID)).toBe(ipv4ToNumber("10.1.0.1"));
    expect(parsed.value.yiaddr).toBe(ipv4ToNumber("10.1.0.10"));
  });

  it("parses a client's discover, skipping pad options", () => {
    const bytes = discover();
    const padded = Buffer.concat([bytes.subarray(0, 240), Buffer.from([0, 0]), bytes.subarray(240)]);
    const parsed = parseDhcp(padded);
    if (!parsed.ok) throw new Error(parsed.code);
    expect(parsed.value.broadcast).toBe(true);
    expect(Buffer.from(parsed.value.options.get(DhcpOption.HOSTNAME)!).toString()).toBe("web1");
  });

  it("refuses truncated messages, a bad cookie, overlong or unterminated options, no message type", () => {
    const good = discover();
    expect(parseDhcp(good.subarray(0, 239))).toEqual({ ok: false, code: "TRUNCATED" });
    const cookie = Buffer.from(good);
    cookie[236] = 0;
    expect(parseDhcp(cookie)).toEqual({ ok: false, code: "BAD_VERSION" });
    const overlong = Buffer.from(good);
    overlong[244] = 200; // hostname length past the end
    expect(parseDhcp(overlong)).toEqual({ ok: false, code: "BAD_OPTION" });
    expect(parseDhcp(good.subarray(0, good.length - 1))).toEqual({ ok: false, code: "BAD_OPTION" });
    const noType = Buffer.from(good);
    noType[240] = 0; // message type option becomes pad, its bytes garbage options
    noType[241] = 0;
    noType[242] = 0;
    expect(parseDhcp(noType)).toEqual({ ok: false, code: "BAD_OPTION" });
    const htype = Buffer.from(good);
    htype[1] = 6;
    expect(parseDhcp(htype)).toEqual({ ok: false, code: "UNSUPPORTED" });
  });
});
