import { describe, expect, it } from "vitest";
import { sink, testMap, udpFrame } from "../fixtures.test-helpers.js";
import { NodeSwitch, type SwitchPort } from "../switch/node-switch.js";
import { ipv4ToNumber, macToNumber } from "../wire/address.js";
import { buildEthernet, ETHERTYPE_IPV4, parseEthernet } from "../wire/ethernet.js";
import { buildIpv4, IP_PROTO_TCP, ipv4Header, parseIpv4 } from "../wire/ipv4.js";
import { buildTcp, parseTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type TcpSegment } from "../wire/tcp.js";
import { METADATA_IP, METADATA_IPV4 } from "./metadata-service.js";

const A = { id: "a", mac: "02:00:00:00:00:0a", ip: "10.1.0.10" };
const D = { id: "d", mac: "02:00:00:00:00:0d", ip: "10.1.0.13" };
const GATEWAY_MAC = "02:00:00:01:00:01";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheTestOnly a@test";

function tcpFrame(from: typeof A, segment: Omit<TcpSegment, "srcPort" | "dstPort" | "window">, dstPort = 80) {
  const src = ipv4ToNumber(from.ip);
  const tcp = buildTcp({ srcPort: 40000, dstPort, window: 65535, ...segment }, src, METADATA_IP);
  return buildEthernet(
    { dst: macToNumber(GATEWAY_MAC), src: macToNumber(from.mac), etherType: ETHERTYPE_IPV4 },
    buildIpv4(ipv4Header(src, METADATA_IP, IP_PROTO_TCP), tcp),
  );
}

/** The segments a port received, checked as the guest's kernel would check them. */
function segments(frames: Buffer[], to: typeof A) {
  return frames.map((frame) => {
    const eth = parseEthernet(frame);
    if (!eth.ok) throw new Error("bad frame");
    expect(eth.value.src).toBe(macToNumber(GATEWAY_MAC));
    expect(eth.value.dst).toBe(macToNumber(to.mac));
    const ip = parseIpv4(eth.value.payload);
    if (!ip.ok) throw new Error("bad packet");
    expect(ip.value.src).toBe(METADATA_IP);
    expect(ip.value.dst).toBe(ipv4ToNumber(to.ip));
    const tcp = parseTcp(ip.value.payload, ip.value.src, ip.value.dst);
    if (!tcp.ok) throw new Error("bad segment");
    return tcp.value;
  });
}

/** One HTTP exchange from a port, as wget makes it: handshake, request, read to FIN. */
function fetch(port: SwitchPort, from: typeof A, out: Buffer[], path: string): string {
  const input = (frame: Buffer) => port.input(frame);
  input(tcpFrame(from, { seq: 100, ack: 0, flags: TCP_SYN, mss: 1460, payload: Buffer.alloc(0) }));
  const [synAck] = segments(out.splice(0), from);
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${METADATA_IPV4}\r\n\r\n`);
  input(tcpFrame(from, { seq: 101, ack: synAck.seq + 1, flags: TCP_ACK, payload: Buffer.alloc(0) }));
  input(tcpFrame(from, { seq: 101, ack: synAck.seq + 1, flags: TCP_ACK | TCP_PSH, payload: request }));
  const reply = segments(out.splice(0), from);
  expect(reply.at(-1)?.flags).toBe(TCP_FIN | TCP_ACK);
  const end = reply.at(-1)!.seq + 1;
  input(
    tcpFrame(from, {
      seq: 101 + request.length,
      ack: end,
      flags: TCP_FIN | TCP_ACK,
      payload: Buffer.alloc(0),
    }),
  );
  out.splice(0);
  return Buffer.concat(reply.map((s) => s.payload)).toString();
}

function region() {
  const sw = new NodeSwitch({ nodeId: "n1" });
  sw.setMap(testMap());
  const a = sink();
  const d = sink();
  const portA = sw.attach("a", a.output);
  const portD = sw.attach("d", d.output);
  sw.setGuestMetadata("a", { hostname: "web1", publicKeys: [KEY] });
  return { sw, a, d, portA, portD };
}

describe("metadata service in the switch", () => {
  it("tells each VPS its own keys, hostname and address, over TCP from 169.254.169.254", () => {
    const { sw, a, d, portA, portD } = region();
    const keys = fetch(portA, A, a.frames, "/metadata/v1/public-keys");
    expect(keys).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(keys.endsWith(`\r\n\r\n${KEY}\n`)).toBe(true);
    expect(fetch(portA, A, a.frames, "/metadata/v1/hostname")).toMatch(/\r\n\r\nweb1\n$/);
    expect(fetch(portA, A, a.frames, "/metadata/v1/interfaces/private/0/ipv4/address")).toMatch(
      /\r\n\r\n10\.1\.0\.10\n$/,
    );
    const doc = fetch(portA, A, a.frames, "/metadata/v1.json");
    expect(JSON.parse(doc.split("\r\n\r\n")[1])).toMatchObject({
      id: "a",
      hostname: "web1",
      public_keys: [KEY],
    });
    // d has no keys of its own and never sees a's; its hostname comes from the map.
    expect(fetch(portD, D, d.frames, "/metadata/v1/public-keys")).toMatch(
      /Content-Length: 0\r\n.*\r\n\r\n$/s,
    );
    expect(fetch(portD, D, d.frames, "/metadata/v1.json")).not.toContain(KEY);
    expect(fetch(portD, D, d.frames, "/metadata/v1/hostname")).toMatch(/\r\n\r\nhost-d\n$/);
    expect(fetch(portD, D, d.frames, "/nope")).toMatch(/^HTTP\/1\.1 404/);
    sw.close();
  });

  it("refuses what is not TCP to port 80, and a packet from another port's address", () => {
    const { sw, a, portA: port } = region();
    port.input(udpFrame(A.mac, GATEWAY_MAC, A.ip, METADATA_IPV4));
    port.input(tcpFrame(A, { seq: 1, ack: 0, flags: TCP_SYN, payload: Buffer.alloc(0) }, 22));
    port.input(tcpFrame(D, { seq: 1, ack: 0, flags: TCP_SYN, payload: Buffer.alloc(0) }));
    expect(a.frames).toEqual([]);
    expect(port.counters.drops).toEqual({ metadataRefused: 2, spoofedMac: 1 });
    sw.close();
  });
});
