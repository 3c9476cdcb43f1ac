import { describe, expect, it } from "vitest";
import { arpRequest, DhcpMessageType, dhcpFrame, sink, testMap, udpFrame } from "../fixtures.test-helpers.js";
import { ipv4ToNumber, macToNumber } from "../wire/address.js";
import { ARP_REPLY, parseArp } from "../wire/arp.js";
import { internetChecksum } from "../wire/checksum.js";
import { DhcpOption, parseDhcp, readIpv4Option } from "../wire/dhcp.js";
import { parseEthernet } from "../wire/ethernet.js";
import { parseIpv4 } from "../wire/ipv4.js";
import { parseUdp } from "../wire/udp.js";
import { buildVxlan } from "../wire/vxlan.js";
import { NodeSwitch } from "./node-switch.js";

const A = { mac: "02:00:00:00:00:0a", ip: "10.1.0.10" };
const B = { mac: "02:00:00:00:00:0b", ip: "10.1.0.11" };
const C = { mac: "02:00:00:00:00:0c", ip: "10.2.0.12" };
const D = { mac: "02:00:00:00:00:0d", ip: "10.1.0.13" };
const GW1 = { mac: "02:00:00:01:00:01", ip: "10.1.0.1" };

function setup() {
  const sw = new NodeSwitch({ nodeId: "n1" });
  sw.setMap(testMap());
  const a = sink();
  const c = sink();
  const d = sink();
  const ports = { a: sw.attach("a", a.output), c: sw.attach("c", c.output), d: sw.attach("d", d.output) };
  return { sw, ports, a, c, d };
}

function arpReplyOf(frame: Buffer) {
  const eth = parseEthernet(frame);
  if (!eth.ok) throw new Error(eth.code);
  const arp = parseArp(eth.value.payload);
  if (!arp.ok) throw new Error(arp.code);
  return { eth: eth.value, arp: arp.value };
}

function dhcpOf(frame: Buffer) {
  const eth = parseEthernet(frame);
  if (!eth.ok) throw new Error(eth.code);
  const ip = parseIpv4(eth.value.payload);
  if (!ip.ok) throw new Error(ip.code);
  const udp = parseUdp(ip.value.payload, ip.value.src, ip.value.dst);
  if (!udp.ok) throw new Error(udp.code);
  const dhcp = parseDhcp(udp.value.payload);
  if (!dhcp.ok) throw new Error(dhcp.code);
  return { eth: eth.value, ip: ip.value, dhcp: dhcp.value };
}

describe("NodeSwitch", () => {
  it("forwards unicast between two local ports of one network", () => {
    const { ports, d, a } = setup();
    const frame = udpFrame(A.mac, D.mac, A.ip, D.ip, "to d");
    ports.a.input(frame);
    expect(d.frames).toEqual([frame]);
    expect(a.frames).toEqual([]);
    expect(ports.a.counters.rxFrames).toBe(1);
    expect(ports.d.counters.txFrames).toBe(1);
  });

  it("never forwards to another network, even with the right MAC and address", () => {
    const { ports, c } = setup();
    ports.a.input(udpFrame(A.mac, C.mac, A.ip, C.ip));
    expect(c.frames).toEqual([]);
    expect(ports.a.counters.drops).toEqual({ unknownUnicast: 1 });
  });

  it("drops and counts per port a spoofed MAC, ARP sender and IPv4 source", () => {
    const { ports, d } = setup();
    ports.a.input(udpFrame(D.mac, D.mac, A.ip, D.ip)); // MAC of another port
    ports.a.input(arpRequest(A.mac, D.mac, A.ip, D.ip)); // ARP sender MAC not its own
    ports.a.input(arpRequest(A.mac, A.mac, D.ip, GW1.ip)); // ARP sender IP not its own
    ports.a.input(udpFrame(A.mac, D.mac, "10.1.0.99", D.ip)); // IPv4 source not its own
    ports.a.input(udpFrame(A.mac, D.mac, "0.0.0.0", D.ip)); // 0.0.0.0 only for DHCP
    expect(d.frames).toEqual([]);
    expect(ports.a.counters.drops).toEqual({ spoofedMac: 1, spoofedArp: 2, spoofedIpv4: 2 });
    expect(ports.a.counters.rxFrames).toBe(0);
    expect(ports.d.counters.drops).toEqual({});
  });

  it("answers ARP for known addresses of the network and its gateway, not for others", () => {
    const { ports, a, d } = setup();
    for (const target of [D.ip, B.ip, GW1.ip]) ports.a.input(arpRequest(A.mac, A.mac, A.ip, target));
    const replies = a.frames.map(arpReplyOf);
    expect(replies.map((r) => r.arp.op)).toEqual([ARP_REPLY, ARP_REPLY, ARP_REPLY]);
    expect(replies.map((r) => r.arp.senderMac)).toEqual([D.mac, B.mac, GW1.mac].map(macToNumber));
    expect(
      replies.every((r) => r.eth.dst === macToNumber(A.mac) && r.arp.targetIp === ipv4ToNumber(A.ip)),
    ).toBe(true);
    // Another network's address and an unassigned one: no answer, nothing flooded.
    ports.a.input(arpRequest(A.mac, A.mac, A.ip, C.ip));
    ports.a.input(arpRequest(A.mac, A.mac, A.ip, "10.1.0.200"));
    expect(a.frames.length).toBe(3);
    expect(d.frames).toEqual([]);
    expect(ports.a.counters.drops).toEqual({ arpUnknownTarget: 2 });
  });

  it("passes a gratuitous ARP to the network's other ports only; answers no probe", () => {
    const { ports, a, c, d } = setup();
    ports.a.input(arpRequest(A.mac, A.mac, A.ip, A.ip));
    expect(d.frames.length).toBe(1);
    expect(c.frames).toEqual([]);
    expect(a.frames).toEqual([]);
    ports.a.input(arpRequest(A.mac, A.mac, "0.0.0.0", A.ip)); // RFC 5227 probe
    expect(a.frames).toEqual([]);
    expect(d.frames.length).toBe(1);
  });

  it("answers DHCP from the map: offer, ack, nak for another address", () => {
    const { ports, a } = setup();
    ports.a.input(dhcpFrame(A.mac, DhcpMessageType.DISCOVER));
    ports.a.input(dhcpFrame(A.mac, DhcpMessageType.REQUEST, A.ip));
    ports.a.input(dhcpFrame(A.mac, DhcpMessageType.REQUEST, "10.1.0.99"));
    const [offer, ack, nak] = a.frames.map(dhcpOf);
    expect(offer.dhcp.messageType).toBe(DhcpMessageType.OFFER);
    expect(offer.dhcp.yiaddr).toBe(ipv4ToNumber(A.ip));
    expect(offer.eth.src).toBe(macToNumber(GW1.mac));
    expect(offer.ip.src).toBe(ipv4ToNumber(GW1.ip));
    expect(readIpv4Option(offer.dhcp, DhcpOption.ROUTER)).toBe(ipv4ToNumber(GW1.ip));
    expect(readIpv4Option(offer.dhcp, DhcpOption.SUBNET_MASK)).toBe(ipv4ToNumber("255.255.255.0"));
    expect(readIpv4Option(offer.dhcp, DhcpOption.SERVER_ID)).toBe(ipv4ToNumber(GW1.ip));
    expect(Buffer.from(offer.dhcp.options.get(DhcpOption.HOSTNAME)!).toString()).toBe("host-a");
    expect(Buffer.from(offer.dhcp.options.get(DhcpOption.LEASE_TIME)!).readUInt32BE(0)).toBe(86_400);
    expect(Buffer.from(offer.dhcp.options.get(DhcpOption.MTU)!).readUInt16BE(0)).toBe(1500);
    expect(ack.dhcp.messageType).toBe(DhcpMessageType.ACK);
    expect(ack.dhcp.yiaddr).toBe(ipv4ToNumber(A.ip));
    expect(nak.dhcp.messageType).toBe(DhcpMessageType.NAK);
    expect(nak.dhcp.yiaddr).toBe(0);
    // A DHCP message claiming another client's hardware address is a spoof.
    const before = a.frames.length;
    const spoofed = dhcpFrame(D.mac, DhcpMessageType.DISCOVER);
    spoofed.set(Buffer.from(A.mac.replaceAll(":", ""), "hex"), 6); // Ethernet source = a, chaddr = d
    ports.a.input(spoofed);
    expect(a.frames.length).toBe(before);
    expect(ports.a.counters.drops).toEqual({ spoofedMac: 1 });
  });

  it("ignores DHCP messages for another server and those a fixed lease needs no answer to", () => {
    const { ports, a } = setup();
    const otherServer = dhcpFrame(A.mac, DhcpMessageType.REQUEST, A.ip);
    // Append option 54 (server id 10.1.0.254) over the end option, then a new end.
    const end = otherServer.lastIndexOf(255);
    const withServer = Buffer.concat([
      otherServer.subarray(0, end),
      Buffer.from([54, 4, 10, 1, 0, 254, 255]),
    ]);
    ports.a.input(fixLengths(withServer));
    ports.a.input(dhcpFrame(A.mac, DhcpMessageType.RELEASE));
    expect(a.frames).toEqual([]);
    expect(ports.a.counters.drops).toEqual({ dhcpIgnored: 2 });
  });

  it("does not flood: unknown unicast and broadcasts other than ARP/DHCP are dropped and counted", () => {
    const { ports, d, c } = setup();
    ports.a.input(udpFrame(A.mac, "02:00:00:00:00:99", A.ip, D.ip));
    ports.a.input(udpFrame(A.mac, "ff:ff:ff:ff:ff:ff", A.ip, "10.1.0.255"));
    ports.a.input(udpFrame(A.mac, "01:00:5e:00:00:01", A.ip, "224.0.0.1"));
    expect(d.frames).toEqual([]);
    expect(c.frames).toEqual([]);
    expect(ports.a.counters.drops).toEqual({ unknownUnicast: 1, broadcast: 2 });
  });

  it("drops malformed frames and frames of unsupported types, and counts them", () => {
    const { ports, d } = setup();
    ports.a.input(new Uint8Array(5));
    const v6 = udpFrame(A.mac, D.mac, A.ip, D.ip);
    v6.writeUInt16BE(0x86dd, 12);
    ports.a.input(v6);
    const badSum = udpFrame(A.mac, D.mac, A.ip, D.ip);
    badSum[14 + 10] ^= 0xff;
    ports.a.input(badSum);
    expect(d.frames).toEqual([]);
    expect(ports.a.counters.drops).toEqual({ malformed: 2, unsupportedEthertype: 1 });
  });

  it("carries frames up to its network's MTU: DHCP gives the MTU, bigger frames are dropped either way", () => {
    let deliver: ((datagram: Buffer, host: string, port: number) => void) | undefined;
    const sw = new NodeSwitch({
      nodeId: "n1",
      overlay: { send: () => undefined, onDatagram: (h) => void (deliver = h) },
    });
    const base = testMap({ nodes: [{ id: "n2", host: "127.0.0.1", port: 7002 }] });
    const jumbo = { ...base, networks: base.networks.map((n) => ({ ...n, mtu: 9000 })) };
    expect(() => sw.setMap({ ...jumbo, networks: [{ ...jumbo.networks[0]!, mtu: 9001 }] })).toThrow(
      /MTU 9001/,
    );
    sw.setMap(jumbo);
    const a = sink();
    const d = sink();
    const ports = { a: sw.attach("a", a.output), d: sw.attach("d", d.output) };
    ports.a.input(dhcpFrame(A.mac, DhcpMessageType.DISCOVER));
    expect(Buffer.from(dhcpOf(a.frames[0]!).dhcp.options.get(DhcpOption.MTU)!).readUInt16BE(0)).toBe(9000);
    // 9000 bytes of IPv4 (the UDP body fills the rest) pass; one byte more is no frame this network carries.
    const full = udpFrame(A.mac, D.mac, A.ip, D.ip, "x".repeat(9000 - 28));
    expect(full.length).toBe(9014);
    ports.a.input(full);
    ports.a.input(udpFrame(A.mac, D.mac, A.ip, D.ip, "x".repeat(9001 - 28)));
    expect(d.frames).toEqual([full]);
    expect(ports.a.counters.drops).toEqual({ oversized: 1 });
    // From another node too: its guest's frame past the MTU is dropped here.
    deliver!(buildVxlan(101, udpFrame(B.mac, D.mac, B.ip, D.ip, "x".repeat(9001 - 28))), "127.0.0.1", 7002);
    deliver!(buildVxlan(101, udpFrame(B.mac, D.mac, B.ip, D.ip, "fits")), "127.0.0.1", 7002);
    expect(d.frames).toHaveLength(2);
    expect(sw.drops).toEqual({ oversized: 1 });
  });

  it("moves a port at a migration's commit and ignores stale map versions", () => {
    const { sw, ports } = setup();
    const b = sink();
    const portB = sw.attach("b", b.output); // b's VMM arrives here before the commit
    const toB = udpFrame(A.mac, B.mac, A.ip, B.ip);
    ports.a.input(toB);
    expect(b.frames).toEqual([]); // the map still says n2 (and this switch has no overlay)
    expect(ports.a.counters.drops).toEqual({ notHere: 1 });
    portB.input(udpFrame(B.mac, A.mac, B.ip, A.ip));
    expect(portB.counters.drops).toEqual({ notInMap: 1 }); // not allowed to send before the commit

    expect(sw.applyUpdate({ version: 2, kind: "movePort", vpsId: "b", node: "n1" })).toBe(true);
    ports.a.input(toB);
    expect(b.frames).toEqual([toB]);

    // A late copy of an older map or update changes nothing.
    expect(sw.applyUpdate({ version: 2, kind: "movePort", vpsId: "b", node: "n2" })).toBe(false);
    expect(sw.setMap(testMap({ version: 1 }))).toBe(false);
    ports.a.input(toB);
    expect(b.frames.length).toBe(2);
    expect(sw.mapVersion).toBe(2);
  });

  it("claims a port at a commit without a version, so the control plane's next map still applies", () => {
    const { sw, ports } = setup();
    const b = sink();
    sw.attach("b", b.output);
    const toB = udpFrame(A.mac, B.mac, A.ip, B.ip);
    expect(sw.claimPort("b")).toBe(true);
    expect(sw.mapVersion).toBe(1);
    ports.a.input(toB);
    expect(b.frames).toEqual([toB]);
    expect(sw.claimPort("nobody")).toBe(false);
    // The next map from the control plane (version 2) replaces the local claim.
    expect(sw.setMap(testMap({ version: 2 }))).toBe(true);
    ports.a.input(toB);
    expect(b.frames.length).toBe(1);
  });

  it("follows a port announced from another node at once (a commit), until the next map", () => {
    const sent: { port: number }[] = [];
    let deliver: ((datagram: Buffer, host: string, port: number) => void) | undefined;
    const sw = new NodeSwitch({
      nodeId: "n1",
      overlay: {
        send: (_host, port) => void sent.push({ port }),
        onDatagram: (h) => {
          deliver = h;
        },
      },
    });
    const nodes = [
      { id: "n2", host: "127.0.0.1", port: 7002 },
      { id: "n3", host: "127.0.0.1", port: 7003 },
    ];
    sw.setMap(testMap({ nodes }));
    const a = sw.attach("a", sink().output);
    const toB = udpFrame(A.mac, B.mac, A.ip, B.ip);
    a.input(toB);
    expect(sent.at(-1)).toEqual({ port: 7002 }); // the map places b on n2
    // b's new node announces it: its own MAC and address, from n3's endpoint.
    deliver!(buildVxlan(101, arpRequest(B.mac, B.mac, B.ip, B.ip)), "127.0.0.1", 7003);
    a.input(toB);
    expect(sent.at(-1)).toEqual({ port: 7003 });
    expect(sw.mapVersion).toBe(1);
    // Not another port's address, and not from a sender outside the map.
    deliver!(buildVxlan(101, arpRequest(B.mac, B.mac, D.ip, D.ip)), "127.0.0.1", 7002);
    deliver!(buildVxlan(101, arpRequest(B.mac, B.mac, B.ip, B.ip)), "127.0.0.1", 7999);
    a.input(toB);
    expect(sent.at(-1)).toEqual({ port: 7003 });
    // The control plane's next map decides.
    expect(sw.setMap(testMap({ version: 2, nodes }))).toBe(true);
    a.input(toB);
    expect(sent.at(-1)).toEqual({ port: 7002 });
  });

  it("removes a port: frames to it are unknown unicast, its own are not in the map", () => {
    const { sw, ports, d } = setup();
    sw.applyUpdate({ version: 5, kind: "removePort", vpsId: "d" });
    ports.a.input(udpFrame(A.mac, D.mac, A.ip, D.ip));
    ports.d.input(udpFrame(D.mac, A.mac, D.ip, A.ip));
    expect(d.frames).toEqual([]);
    expect(ports.a.counters.drops).toEqual({ unknownUnicast: 1 });
    expect(ports.d.counters.drops).toEqual({ notInMap: 1 });
  });

  it("a replaced port's late detach leaves its successor plugged in", () => {
    const { sw, ports } = setup();
    const d2 = sink();
    sw.attach("d", d2.output); // d's VMM reconnected
    ports.d.detach(); // the old link's cleanup runs afterwards
    const frame = udpFrame(A.mac, D.mac, A.ip, D.ip);
    ports.a.input(frame);
    expect(d2.frames).toEqual([frame]);
  });

  it("counts a full queue on the port that could not take the frame", () => {
    const { sw, ports } = setup();
    sw.attach("d", () => false);
    ports.a.input(udpFrame(A.mac, D.mac, A.ip, D.ip));
    expect(sw.portCounters("d")?.drops).toEqual({ queueFull: 1 });
  });
});

describe("NodeSwitch: a port held while its VM is paused for a migration's last copy", () => {
  const NODES = [
    { id: "n2", host: "127.0.0.1", port: 7002 },
    { id: "n3", host: "127.0.0.1", port: 7003 },
  ];

  /** Node n1 with d (net1) local and an overlay that records what it sends where. */
  function overlaid() {
    const sent: { port: number; frame: Buffer }[] = [];
    let deliver: ((datagram: Buffer, host: string, port: number) => void) | undefined;
    const sw = new NodeSwitch({
      nodeId: "n1",
      overlay: {
        send: (_host, port, _vni, frame) => void sent.push({ port, frame: Buffer.from(frame) }),
        onDatagram: (h) => {
          deliver = h;
        },
      },
    });
    sw.setMap(testMap({ nodes: NODES }));
    const a = sink();
    const d = sink();
    const ports = { a: sw.attach("a", a.output), d: sw.attach("d", d.output) };
    const fromNode = (port: number, frame: Buffer) => deliver!(buildVxlan(101, frame), "127.0.0.1", port);
    return { sw, sent, ports, a, d, fromNode };
  }
  const toD = (body: string) => udpFrame(A.mac, D.mac, A.ip, D.ip, body);
  const announceD = arpRequest(D.mac, D.mac, D.ip, D.ip);

  it("keeps its frames, and delivers them in order when the VM runs on here (a rollback)", () => {
    const { ports, d, fromNode } = overlaid();
    ports.d.hold();
    ports.a.input(toD("1"));
    fromNode(7002, udpFrame(B.mac, D.mac, B.ip, D.ip, "2"));
    expect(d.frames).toEqual([]);
    ports.d.resume();
    ports.a.input(toD("3"));
    expect(d.frames.map((f) => f.subarray(-1).toString())).toEqual(["1", "2", "3"]);
    expect(ports.d.counters).toMatchObject({ txFrames: 3, handedOver: 0, drops: {} });
  });

  it("hands what it kept to the node that announces the port (the commit), never to the paused VM", () => {
    const { ports, d, sent, fromNode } = overlaid();
    ports.d.hold();
    ports.a.input(toD("1"));
    ports.a.input(toD("2"));
    fromNode(7003, announceD); // d's destination, n3, committed and claims it
    expect(sent.map((s) => [s.port, s.frame.subarray(-1).toString()])).toEqual([
      [7003, "1"],
      [7003, "2"],
    ]);
    ports.d.resume(); // too late: nothing is left to deliver here
    ports.a.input(toD("3")); // new frames follow the port
    expect(d.frames.filter((f) => f.readUInt16BE(12) !== 0x0806)).toEqual([]);
    expect(sent.at(-1)?.port).toBe(7003);
    expect(ports.d.counters).toMatchObject({ txFrames: 0, handedOver: 2 });
  });

  it("tells the node the port left even when no other port of its network lives there", () => {
    const { sw, sent } = overlaid();
    sw.setMap(testMap({ version: 2, nodes: NODES, ports: testMap().ports.filter((p) => p.vpsId !== "b") }));
    sw.attach("b", sink().output);
    sw.applyUpdate({
      version: 3,
      kind: "setPort",
      port: { vpsId: "b", mac: B.mac, ipv4: B.ip, networkId: "net1", node: "n3", hostname: "b" },
    });
    expect(sw.claimPort("b")).toBe(true); // announced to n3, which b left
    expect(sent.map((s) => s.port)).toEqual([7003]);
  });

  it("takes the port its VMM claims at the guest's first instruction, announces it once, and lets it send", () => {
    const { sw, sent, ports, a } = overlaid();
    const b = sink();
    const portB = sw.attach("b", b.output); // the migration's destination VMM, linked before the pause
    const toB = udpFrame(A.mac, B.mac, A.ip, B.ip, "to b");
    const fromB = udpFrame(B.mac, A.mac, B.ip, A.ip, "from b");
    portB.input(fromB);
    expect(portB.counters.drops).toEqual({ notInMap: 1 }); // the map still places b on n2
    portB.claim();
    // Announced to the network's ports here and to n2, which b left (it may hold b's frames).
    expect(sent.map((s) => [s.port, arpReplyOf(s.frame).arp.senderMac])).toEqual([
      [7002, macToNumber(B.mac)],
    ]);
    expect(a.frames.map((f) => arpReplyOf(f).arp.targetIp)).toEqual([ipv4ToNumber(B.ip)]);
    ports.a.input(toB);
    portB.input(fromB);
    expect(b.frames).toEqual([toB]);
    expect(a.frames.at(-1)).toEqual(fromB);
    expect(sw.mapVersion).toBe(1);
    // The agent's claim of the same commit comes after: nothing more is announced.
    expect(sw.claimPort("b")).toBe(true);
    expect(sent.length).toBe(1);
  });

  it("ignores a claim from a held port (a source paused for its last copy) or a replaced one", () => {
    const { sw, sent } = overlaid();
    const held = sw.attach("b", sink().output);
    held.hold();
    held.claim();
    sw.attach("b", sink().output); // b's link reconnected: the old port is gone
    held.claim();
    expect(sw.nodeOf("b")).toBe("n2");
    expect(sent).toEqual([]);
  });

  it("passes on frames for a handed-over port that still arrive from the overlay, until the next map", () => {
    const { ports, sent, fromNode } = overlaid();
    const late = udpFrame(B.mac, D.mac, B.ip, D.ip, "late");
    fromNode(7002, late); // not handed over: d is here, delivered
    ports.d.hold();
    fromNode(7003, announceD);
    fromNode(7002, late); // sent by n2 before it learnt the move
    expect(sent.map((s) => s.port)).toEqual([7003]);
    expect(sent[0]!.frame).toEqual(late);
    // A port that was never handed over from here is not bounced.
    fromNode(7002, udpFrame(D.mac, B.mac, D.ip, B.ip));
    expect(sent.length).toBe(1);
  });

  it("hands over when the source agent learns the commit first, or when a map moves the port", () => {
    const first = overlaid();
    first.ports.d.hold();
    first.ports.a.input(toD("1"));
    expect(first.sw.handOver("d", "n9")).toBe(false); // a node the map does not know
    expect(first.sw.handOver("d", "n2")).toBe(true);
    expect(first.sent.map((s) => s.port)).toEqual([7002]);
    expect(first.sw.nodeOf("d")).toBe("n2");

    const second = overlaid();
    second.ports.d.hold();
    second.ports.a.input(toD("1"));
    second.sw.applyUpdate({ version: 2, kind: "movePort", vpsId: "d", node: "n3" });
    expect(second.sent.map((s) => s.port)).toEqual([7003]);
  });

  it("bounds what it keeps and counts the rest; unplugging the port drops what it kept", () => {
    const { ports, d } = overlaid();
    ports.d.hold();
    for (let i = 0; i < 300; i++) ports.a.input(toD(String(i % 10)));
    expect(ports.d.counters.drops).toEqual({ holdFull: 300 - 256 });
    ports.d.detach();
    ports.d.resume();
    expect(d.frames).toEqual([]);
    expect(ports.d.counters.drops).toEqual({ holdFull: 44, holdLost: 256 });
  });
});

/** Rewrites the IPv4 and UDP lengths and checksums of a frame whose DHCP payload was edited. */
function fixLengths(frame: Buffer): Buffer {
  const eth = parseEthernet(frame);
  if (!eth.ok) throw new Error(eth.code);
  const ipLength = frame.length - 14;
  frame.writeUInt16BE(ipLength, 14 + 2);
  frame.writeUInt16BE(0, 14 + 10);
  frame.writeUInt16BE(internetChecksum(frame, 14, 20), 14 + 10);
  frame.writeUInt16BE(ipLength - 20, 34 + 4);
  frame.writeUInt16BE(0, 34 + 6); // UDP checksum 0: not sent
  return frame;
}
