import { rng } from "@skiff/devkit";
import { describe, expect, it } from "vitest";
import { arpRequest, DhcpMessageType, dhcpFrame, sink, testMap, udpFrame } from "../fixtures.test-helpers.js";
import type { OverlayTransport } from "../overlay/transport.js";
import { buildVxlan } from "../wire/vxlan.js";
import { NodeSwitch } from "./node-switch.js";

const A = { mac: "02:00:00:00:00:0a", ip: "10.1.0.10" };
const D = { mac: "02:00:00:00:00:0d", ip: "10.1.0.13" };

/** Flips, truncates or extends a valid frame at random: what a broken or hostile guest might send. */
function mutate(next: () => number, frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  const flips = 1 + Math.floor(next() * 6);
  for (let i = 0; i < flips; i++) out[Math.floor(next() * out.length)] = Math.floor(next() * 256);
  const cut = next();
  if (cut < 0.2) return out.subarray(0, Math.floor(next() * out.length));
  if (cut < 0.3)
    return Buffer.concat([out, Buffer.alloc(Math.floor(next() * 1600), Math.floor(next() * 256))]);
  return out;
}

/** An overlay endpoint the test feeds by hand, as a registered node would. */
function handFedOverlay() {
  let handler: ((datagram: Buffer, host: string, port: number) => void) | undefined;
  const transport: OverlayTransport = {
    send: () => {},
    onDatagram: (h) => {
      handler = h;
    },
  };
  return { transport, deliver: (datagram: Buffer) => handler?.(datagram, "127.0.0.1", 7000) };
}

describe("hostile input", () => {
  it("never throws on mutated frames from a port or the overlay, and counts every refusal", () => {
    const next = rng(18);
    const overlay = handFedOverlay();
    const sw = new NodeSwitch({ nodeId: "n1", overlay: overlay.transport });
    sw.setMap(testMap({ nodes: [{ id: "n2", host: "127.0.0.1", port: 7000 }] }));
    const d = sink();
    const a = sw.attach("a", () => true);
    sw.attach("d", d.output);
    const seeds = [
      udpFrame(A.mac, D.mac, A.ip, D.ip),
      arpRequest(A.mac, A.mac, A.ip, D.ip),
      dhcpFrame(A.mac, DhcpMessageType.DISCOVER),
      dhcpFrame(A.mac, DhcpMessageType.REQUEST, A.ip),
    ];
    const rounds = 5000;
    for (let i = 0; i < rounds; i++) {
      const frame = mutate(next, seeds[i % seeds.length]);
      expect(() => a.input(frame)).not.toThrow();
      const datagram = mutate(next, buildVxlan(101, seeds[i % seeds.length]));
      expect(() => overlay.deliver(datagram)).not.toThrow();
    }
    // Every frame a port sent was either accepted or dropped with a reason.
    const dropped = Object.values(a.counters.drops).reduce((sum, n) => sum + n, 0);
    expect(a.counters.rxFrames + dropped).toBe(rounds);
    expect(a.counters.drops.malformed).toBeGreaterThan(0);
    expect(sw.drops.malformed).toBeGreaterThan(0);
  });
});
