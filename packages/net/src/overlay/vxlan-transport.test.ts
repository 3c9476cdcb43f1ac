import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { arpRequest, port, sink, testMap, udpFrame } from "../fixtures.test-helpers.js";
import type { NetworkMap } from "../map.js";
import { NodeSwitch } from "../switch/node-switch.js";
import { buildVxlan } from "../wire/vxlan.js";
import { VxlanTransport } from "./vxlan-transport.js";

const A = { mac: "02:00:00:00:00:0a", ip: "10.1.0.10" };
const B = { mac: "02:00:00:00:00:0b", ip: "10.1.0.11" };

/** Resolves when `count` frames have arrived in `frames` (the wait is for an event, not a duration). */
function arrivals(frames: Buffer[], count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (frames.length >= count ? resolve() : setImmediate(check));
    check();
  });
}

const opened: VxlanTransport[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

async function twoNodes() {
  const t1 = await VxlanTransport.bind();
  const t2 = await VxlanTransport.bind();
  opened.push(t1, t2);
  const map: NetworkMap = testMap({
    nodes: [
      { id: "n1", ...t1.address },
      { id: "n2", ...t2.address },
    ],
  });
  const s1 = new NodeSwitch({ nodeId: "n1", overlay: t1 });
  const s2 = new NodeSwitch({ nodeId: "n2", overlay: t2 });
  s1.setMap(map);
  s2.setMap(map);
  const a = sink();
  const b = sink();
  return { s1, s2, t1, t2, a, b, pa: s1.attach("a", a.output), pb: s2.attach("b", b.output) };
}

describe("overlay between two switches on real UDP sockets", () => {
  it("carries frames of one network both ways across nodes", async () => {
    const { pa, pb, a, b } = await twoNodes();
    const ab = udpFrame(A.mac, B.mac, A.ip, B.ip, "a to b");
    pa.input(ab);
    await arrivals(b.frames, 1);
    expect(b.frames).toEqual([ab]);
    const ba = udpFrame(B.mac, A.mac, B.ip, A.ip, "b to a");
    pb.input(ba);
    await arrivals(a.frames, 1);
    expect(a.frames).toEqual([ba]);
  });

  it("carries a gratuitous ARP to the network's ports on other nodes", async () => {
    const { pa, b } = await twoNodes();
    const announce = arpRequest(A.mac, A.mac, A.ip, A.ip);
    pa.input(announce);
    await arrivals(b.frames, 1);
    expect(b.frames).toEqual([announce]);
  });

  it("announces a port at its new node after a move: every other port of the network hears it", async () => {
    const { s1, s2, b } = await twoNodes();
    // a moves from n1 to n2: both switches take the commit, then n2 announces a.
    s1.applyUpdate({ version: 2, kind: "movePort", vpsId: "a", node: "n2" });
    s2.applyUpdate({ version: 2, kind: "movePort", vpsId: "a", node: "n2" });
    const d = sink();
    s1.attach("d", d.output);
    expect(s1.announce("a")).toBe(false); // not here any more
    expect(s2.announce("a")).toBe(true);
    await arrivals(d.frames, 1);
    expect(d.frames).toEqual([arpRequest(A.mac, A.mac, A.ip, A.ip)]);
    expect(b.frames).toEqual([arpRequest(A.mac, A.mac, A.ip, A.ip)]);
  });

  it("drops datagrams from unregistered senders, and counts them", async () => {
    const { s2, t2, pa, b } = await twoNodes();
    const rogue = createSocket("udp4");
    await new Promise<void>((resolve) => rogue.bind(0, "127.0.0.1", resolve));
    const inner = udpFrame(A.mac, B.mac, A.ip, B.ip, "forged");
    await new Promise((resolve) => rogue.send(buildVxlan(101, inner), t2.address.port, "127.0.0.1", resolve));
    // A frame from a registered node, sent after the forged one, is the barrier: when it is in, the
    // forged one has been handled (one socket, datagrams read in order).
    const real = udpFrame(A.mac, B.mac, A.ip, B.ip, "real");
    pa.input(real);
    await arrivals(b.frames, 1);
    rogue.close();
    expect(b.frames).toEqual([real]);
    expect(s2.drops).toEqual({ unregisteredSender: 1 });
  });

  it("drops, never bounces, a frame for a port that moved away; delivers to its new node", async () => {
    const { s1, s2, pa, b } = await twoNodes();
    // b moves from n2 to n1. n2 learns first; n1's map is still old and sends to n2.
    s2.applyUpdate({ version: 2, kind: "movePort", vpsId: "b", node: "n1" });
    const b1 = sink();
    s1.attach("b", b1.output);
    const first = udpFrame(A.mac, B.mac, A.ip, B.ip, "to the old home");
    pa.input(first);
    // Barrier: a registered frame n1 → n2 that n2 does deliver locally comes after the first.
    const e = port("e", "02:00:00:00:00:0e", "10.1.0.14", "net1", "n2");
    s2.applyUpdate({ version: 3, kind: "setPort", port: e });
    s1.applyUpdate({ version: 2, kind: "setPort", port: e });
    const atE = sink();
    s2.attach("e", atE.output);
    pa.input(udpFrame(A.mac, e.mac, A.ip, e.ipv4, "barrier"));
    await arrivals(atE.frames, 1);
    expect(b.frames).toEqual([]);
    expect(b1.frames).toEqual([]);
    expect(s2.drops).toEqual({ notHere: 1 });
    // Once n1 has the commit too, frames go to the one new home.
    s1.applyUpdate({ version: 3, kind: "movePort", vpsId: "b", node: "n1" });
    const second = udpFrame(A.mac, B.mac, A.ip, B.ip, "to the new home");
    pa.input(second);
    expect(b1.frames).toEqual([second]);
    expect(b.frames).toEqual([]);
  });

  it("refuses frames injected into another network by a registered node", async () => {
    const { s2, t1, t2, pa, b } = await twoNodes();
    // A frame claiming c's MAC (net2) sent under net1's VNI.
    const injected = udpFrame("02:00:00:00:00:0c", B.mac, "10.2.0.12", B.ip, "cross");
    t1.send(t2.address.host, t2.address.port, 101, injected);
    const real = udpFrame(A.mac, B.mac, A.ip, B.ip, "real");
    pa.input(real);
    await arrivals(b.frames, 1);
    expect(b.frames).toEqual([real]);
    expect(s2.drops).toEqual({ spoofedMac: 1 });
  });
});
