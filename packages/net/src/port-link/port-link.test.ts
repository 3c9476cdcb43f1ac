import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { arpRequest, testMap, udpFrame } from "../fixtures.test-helpers.js";
import { NodeSwitch } from "../switch/node-switch.js";
import { parseArp } from "../wire/arp.js";
import { MAX_FRAME_BYTES, parseEthernet } from "../wire/ethernet.js";
import { PortLinkClient } from "./client.js";
import { encodeFrame, encodeSignal, FrameReader, LinkSignal } from "./framing.js";
import { PortLinkServer } from "./server.js";

const A = { mac: "02:00:00:00:00:0a", ip: "10.1.0.10" };
const B = { mac: "02:00:00:00:00:0b", ip: "10.1.0.11" };
const D = { mac: "02:00:00:00:00:0d", ip: "10.1.0.13" };

async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setImmediate(r));
}

function nextFrame(client: PortLinkClient): Promise<Buffer> {
  return new Promise((resolve) => client.onFrame(resolve));
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function linked() {
  const dir = mkdtempSync(join(tmpdir(), "skiff-net-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const sw = new NodeSwitch({ nodeId: "n1" });
  sw.setMap(testMap());
  const serverA = await PortLinkServer.listen(join(dir, "a.sock"), sw, "a");
  const serverD = await PortLinkServer.listen(join(dir, "d.sock"), sw, "d");
  const a = await PortLinkClient.connect(join(dir, "a.sock"));
  const d = await PortLinkClient.connect(join(dir, "d.sock"));
  cleanups.push(
    () => a.close(),
    () => d.close(),
    () => serverA.close(),
    () => serverD.close(),
  );
  return { dir, sw, serverA, serverD, a, d };
}

describe("framing", () => {
  it("carries signals between frames, in stream order", () => {
    const stream = Buffer.concat([
      encodeFrame(Buffer.from("one")),
      encodeSignal(LinkSignal.Held),
      encodeFrame(Buffer.from("two")),
    ]);
    const got: string[] = [];
    const reader = new FrameReader();
    for (let i = 0; i < stream.length; i++)
      reader.push(
        stream.subarray(i, i + 1),
        (f) => got.push(f.toString()),
        (s) => got.push(LinkSignal[s]),
      );
    expect(got).toEqual(["one", "Held", "two"]);
  });

  it("cuts frames back out of arbitrary chunks", () => {
    const frames = [Buffer.from("first frame!!!!"), Buffer.alloc(1514, 7), Buffer.from("x")];
    const stream = Buffer.concat(frames.map(encodeFrame));
    const got: Buffer[] = [];
    const reader = new FrameReader();
    for (let i = 0; i < stream.length; i += 5)
      reader.push(stream.subarray(i, i + 5), (f) => got.push(Buffer.from(f)));
    expect(got).toEqual(frames);
  });

  it("refuses lengths over a frame and unknown signals, with a code", () => {
    expect(() =>
      new FrameReader().push(
        Buffer.from([0, 0, 9]),
        () => {},
        () => {},
      ),
    ).toThrow(expect.objectContaining({ code: "NET_LINK_BAD_FRAME" }));
    // One byte past the largest (jumbo) frame: 9015 = 0x2337.
    expect(() => new FrameReader().push(Buffer.from([0x23, 0x37, 1]), () => {})).toThrow(
      expect.objectContaining({ code: "NET_LINK_BAD_FRAME" }),
    );
    expect(() => encodeFrame(Buffer.alloc(MAX_FRAME_BYTES + 1))).toThrow(
      expect.objectContaining({ code: "NET_LINK_BAD_FRAME" }),
    );
  });
});

describe("port link over a Unix socket", () => {
  it("tells the VMM's end when the switch's end goes away", async () => {
    const { serverA, a } = await linked();
    const closed = new Promise<void>((resolve) => a.onClose(resolve));
    await serverA.close();
    await closed;
    expect(a.send(Buffer.alloc(60))).toBe(false);
  });

  it("carries frames VMM → switch → VMM and the switch's ARP answers back", async () => {
    const { a, d } = await linked();
    const atD = nextFrame(d);
    const frame = udpFrame(A.mac, D.mac, A.ip, D.ip, "over the link");
    a.send(frame);
    expect(await atD).toEqual(frame);
    const atA = nextFrame(a);
    a.send(arpRequest(A.mac, A.mac, A.ip, D.ip));
    const reply = parseEthernet(await atA);
    const arp = reply.ok ? parseArp(reply.value.payload) : undefined;
    expect(arp?.ok && arp.value.senderIp).toBe(0x0a01000d);
  });

  it("holds a paused VM's frames: acknowledged behind those already sent, delivered on resume", async () => {
    const { a, d } = await linked();
    const atD: string[] = [];
    d.onFrame((f) => atD.push(f.subarray(-1).toString()));
    const toD = (body: string) => udpFrame(A.mac, D.mac, A.ip, D.ip, body);
    a.send(toD("1"));
    // The switch may read a's frame before or after d's hold: either way it reaches d exactly
    // once, before the hold's answer (then) or on resume (kept).
    await d.hold();
    const beforeHold = [...atD];
    a.send(toD("2"));
    await a.hold(); // a round trip on a's link: the switch has read "2" by now
    expect(atD).toEqual(beforeHold);
    d.resume();
    a.resume();
    a.send(toD("3"));
    await waitFor(() => atD.length === 3);
    expect(atD).toEqual(["1", "2", "3"]);
  });

  it("takes a port claimed on its link before the frames the guest sends after the claim", async () => {
    const { sw, a, dir } = await linked();
    const serverB = await PortLinkServer.listen(join(dir, "b.sock"), sw, "b");
    const b = await PortLinkClient.connect(join(dir, "b.sock"));
    cleanups.push(
      () => b.close(),
      () => serverB.close(),
    );
    const atA: Buffer[] = [];
    a.onFrame((f) => atA.push(Buffer.from(f)));
    // b's map entry says n2: until the claim, the switch takes nothing from it.
    const fromB = udpFrame(B.mac, A.mac, B.ip, A.ip, "first frame after the commit");
    b.claim();
    b.send(fromB);
    await waitFor(() => atA.length === 2);
    const [announcement, frame] = atA;
    const eth = parseEthernet(announcement!);
    expect(eth.ok && parseArp(eth.value.payload)).toMatchObject({
      ok: true,
      value: { senderIp: 0x0a01000b },
    });
    expect(frame).toEqual(fromB);
    expect(sw.nodeOf("b")).toBe("n1");
    expect(serverB.counters.drops).toEqual({});
  });

  it("ends each read after its frames, and before a hold answered in that read resolves", async () => {
    const { a, d } = await linked();
    const events: string[] = [];
    d.onFrame(
      (f) => events.push(f.subarray(-1).toString()),
      () => events.push("end"),
    );
    const toD = (body: string) => udpFrame(A.mac, D.mac, A.ip, D.ip, body);
    for (const body of ["1", "2", "3"]) a.send(toD(body));
    await waitFor(() => events.filter((e) => e !== "end").length === 3);
    // However the stream was cut into reads, every frame is followed by the end of its read.
    expect(events.at(-1)).toBe("end");
    expect(events.filter((e) => e !== "end")).toEqual(["1", "2", "3"]);
    events.length = 0;
    await d.hold().then(() => events.push("held"));
    expect(events).toEqual(["end", "held"]);
  });

  it("closes a link that sends a bad length; the switch keeps serving the others", async () => {
    const { dir, a, d, serverD } = await linked();
    const raw = connect(join(dir, "a.sock")); // replaces a's connection, then misbehaves
    await new Promise((resolve) => raw.once("connect", resolve));
    const closed = new Promise((resolve) => raw.once("close", resolve));
    raw.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
    await closed;
    const again = await PortLinkClient.connect(join(dir, "a.sock"));
    cleanups.push(() => again.close());
    const atD = nextFrame(d);
    const frame = udpFrame(A.mac, D.mac, A.ip, D.ip, "still works");
    again.send(frame);
    expect(await atD).toEqual(frame);
    expect(serverD.counters.txFrames).toBe(1);
    await a.close();
  });
});
