import { SkiffError } from "@skiff/common";
import { describe, expect, it } from "vitest";
import { PAGE_SHIFT, Ram } from "../../memory/ram.js";
import type { StateRecord } from "../../snapshot/state.js";
import { decodeState, encodeState } from "../../snapshot/state-codec.js";
import { TestVirtioDriver } from "../../test-support/virtio-driver.js";
import { VirtioMmioReg as R, VirtioMmio, VirtioStatus } from "./mmio.js";
import {
  MAX_FRAME,
  type NetBackend,
  parseMac,
  VIRTIO_NET_HDR_SIZE,
  VirtioNet,
  VirtioNetFeature,
} from "./net.js";

const RX = 0;
const TX = 1;
const MAC = "52:54:00:12:34:56";

/** A backend that records what the guest sends and lets the test push frames to it. */
class RecordingBackend implements NetBackend {
  readonly sent: Uint8Array[] = [];
  deliver: (frames: readonly Uint8Array[]) => number = () => 0;
  send(frame: Uint8Array): void {
    this.sent.push(frame);
  }
  onFrame(deliver: (frames: readonly Uint8Array[]) => number): void {
    this.deliver = deliver;
  }
  /** Hands the device one frame; whether it reached the guest. */
  deliverOne(frame: Uint8Array): boolean {
    return this.deliver([frame]) === 1;
  }
}

/** `accept`: the features the driver takes (default: all offered). */
function setup(ram = new Ram(1 << 20), init = true, accept?: number[]) {
  const backend = new RecordingBackend();
  const net = new VirtioNet(MAC, backend);
  let irq = false;
  const dev = new VirtioMmio(ram, net, (l) => {
    irq = l;
  });
  const drv = new TestVirtioDriver(ram, dev);
  if (init) expect(drv.init(accept) & VirtioStatus.DRIVER_OK).toBe(VirtioStatus.DRIVER_OK);
  return { ram, backend, net, dev, drv, irq: () => irq };
}

/** An Ethernet frame of `len` bytes: broadcast destination, our MAC as source, a counting payload. */
function frame(len: number, seed = 0): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f.set(parseMac(MAC), 6);
  for (let i = 12; i < len; i++) f[i] = (i + seed) & 0xff;
  return f;
}

function header(flags = 0, gso = 0): Uint8Array {
  const h = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  h[0] = flags;
  h[1] = gso;
  return h;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SkiffError) return err.code;
    throw err;
  }
  return undefined;
}

describe("VirtioNet", () => {
  it("is a network device with the MAC and link up in its config space", () => {
    const { drv, dev } = setup(new Ram(1 << 20), false);
    expect(drv.r(R.DEVICE_ID)).toBe(1);
    expect(drv.deviceFeatures()).toEqual(expect.arrayContaining([0, 1, 5, 7, 11, 15, 16, 32]));
    const mac = [0, 1, 2, 3, 4, 5].map((i) => dev.read(R.CONFIG + i, 1));
    expect(mac).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    expect(dev.read(R.CONFIG + 6, 2)).toBe(1); // VIRTIO_NET_S_LINK_UP
    drv.w(R.QUEUE_SEL, 0);
    expect(drv.r(R.QUEUE_NUM_MAX)).toBe(256);
    drv.w(R.QUEUE_SEL, 1);
    expect(drv.r(R.QUEUE_NUM_MAX)).toBe(256);
    drv.w(R.QUEUE_SEL, 2);
    expect(drv.r(R.QUEUE_NUM_MAX)).toBe(0);
  });

  it("refuses a malformed or multicast MAC with a code", () => {
    expect(codeOf(() => new VirtioNet("52:54:00:12:34"))).toBe("MACHINE_CONFIG_INVALID");
    expect(codeOf(() => new VirtioNet("52:54:00:12:34:zz"))).toBe("MACHINE_CONFIG_INVALID");
    expect(codeOf(() => new VirtioNet("01:00:5e:00:00:01"))).toBe("MACHINE_CONFIG_INVALID");
  });

  it("transmits frames from one buffer or a chain of them, returning every buffer", () => {
    const { drv, backend, net, irq } = setup();
    const a = frame(60, 1);
    const b = frame(MAX_FRAME, 2);
    const one = drv.post(TX, [{ out: Uint8Array.from([...header(), ...a]) }]);
    const chained = drv.post(TX, [
      { out: header() },
      { out: b.subarray(0, 100) },
      { out: b.subarray(100, 1000) },
      { out: b.subarray(1000) },
    ]);
    const indirect = drv.post(TX, [{ out: header() }, { out: a }], { indirect: true });
    drv.notify(TX);
    expect(backend.sent).toEqual([a, b, a]);
    expect(drv.takeUsed(TX)).toEqual([
      [one.head, 0],
      [chained.head, 0],
      [indirect.head, 0],
    ]);
    expect(irq()).toBe(true);
    expect(net.counters).toMatchObject({ txFrames: 3, txDropped: 0, txMalformed: 0 });
  });

  it("drops bad headers, bad chain shapes and frames of a wrong size, counted, buffers returned", () => {
    const { drv, backend, net } = setup(undefined, true, [VirtioNetFeature.MAC, VirtioNetFeature.STATUS, 32]);
    const posted = [
      drv.post(TX, [{ out: header(1) }, { out: frame(60) }]), // NEEDS_CSUM without the feature
      drv.post(TX, [{ out: header(0, 1) }, { out: frame(60) }]), // GSO TCPv4 without the feature
      drv.post(TX, [{ out: header() }, { out: frame(60) }, { in: 16 }]), // a writable buffer in TX
      drv.post(TX, [{ out: header().subarray(0, 8) }]), // shorter than the header
      drv.post(TX, [{ out: header() }, { out: frame(MAX_FRAME + 1) }]), // oversized
      drv.post(TX, [{ out: header() }, { out: frame(13) }]), // shorter than an Ethernet header
    ];
    drv.notify(TX);
    expect(backend.sent).toEqual([]);
    expect(drv.takeUsed(TX)).toEqual(posted.map((p) => [p.head, 0]));
    expect(net.counters).toMatchObject({ txFrames: 0, txMalformed: 4, txDropped: 2 });
    // The device keeps working for good frames.
    drv.post(TX, [{ out: header() }, { out: frame(64) }]);
    drv.notify(TX);
    expect(backend.sent).toEqual([frame(64)]);
  });

  it("cuts a TSO packet into segments with their own checksums (HOST_TSO4), and refuses bad TSO requests", () => {
    const { drv, backend, net } = setup();
    const packet = tcpSegment(1000, 3000);
    const tso = header(1, 1);
    tso.set([IP_END + 20, 0, 0xa8, 0x05, IP_END, 0, 16, 0], 2); // hdr_len, gso_size 1448, csum_start/offset
    const noCsum = header(0, 1);
    noCsum.set([0xa8, 0x05], 4);
    const posted = [
      drv.post(TX, [{ out: tso }, { out: packet.subarray(0, 1000) }, { out: packet.subarray(1000) }]),
      drv.post(TX, [{ out: noCsum }, { out: packet }]), // TSO leaves the checksum to the device
      drv.post(TX, [{ out: header(1, 1) }, { out: packet }]), // gso_size 0
      drv.post(TX, [{ out: header(1, 4) }, { out: packet }]), // GSO_UDP
    ];
    drv.notify(TX);
    expect(drv.takeUsed(TX)).toEqual(posted.map((p) => [p.head, 0]));
    expect(backend.sent.map((f) => f.length - IP_END - 20)).toEqual([1448, 1448, 104]);
    for (const f of backend.sent) {
      expect(onesSum(f.subarray(14, IP_END), 0)).toBe(0xffff);
      expect(onesSum(f.subarray(IP_END), pseudoHeaderSum(f))).toBe(0xffff);
    }
    expect(net.counters).toMatchObject({ txFrames: 3, txMalformed: 3, txDropped: 0 });
  });

  it("counts a descriptor chain the queue cannot walk, without throwing", () => {
    const { drv, dev, backend, net } = setup();
    const q = drv.queues[TX]!;
    const head = drv.takeDesc(TX);
    drv.writeDesc(q.desc, head, 0x7000_0000, 64, 0, 0); // outside RAM
    drv.publish(TX, head);
    expect(() => drv.notify(TX)).not.toThrow();
    expect(backend.sent).toEqual([]);
    expect(net.counters.txMalformed).toBe(1);
    expect(drv.r(R.STATUS) & VirtioStatus.DEVICE_NEEDS_RESET).toBe(VirtioStatus.DEVICE_NEEDS_RESET);
    expect(dev.lastFault).toMatch(/outside RAM/);
    // Frames for the guest are dropped while the device waits for its reset.
    expect(backend.deliverOne(frame(60))).toBe(false);
    expect(net.counters.rxDropped).toBe(1);
  });

  it("receives a frame into the next RX buffer, one buffer or chained, with a v1 header", () => {
    const { drv, backend, net, irq } = setup();
    const whole = drv.post(RX, [{ in: VIRTIO_NET_HDR_SIZE + MAX_FRAME }]);
    const split = drv.post(RX, [{ in: VIRTIO_NET_HDR_SIZE }, { in: 700 }, { in: 900 }]);
    drv.notify(RX);
    expect(drv.takeUsed(RX)).toEqual([]); // buffers wait for frames
    const a = frame(98, 3);
    const b = frame(1400, 4);
    expect(backend.deliverOne(a)).toBe(true);
    expect(backend.deliverOne(b)).toBe(true);
    expect(drv.takeUsed(RX)).toEqual([
      [whole.head, VIRTIO_NET_HDR_SIZE + a.length],
      [split.head, VIRTIO_NET_HDR_SIZE + b.length],
    ]);
    expect(irq()).toBe(true);
    const got = drv.bytes(whole.addrs[0]!, VIRTIO_NET_HDR_SIZE + a.length);
    // DATA_VALID (GUEST_CSUM was negotiated), num_buffers = 1, every other field zero.
    expect(Array.from(got.subarray(0, VIRTIO_NET_HDR_SIZE))).toEqual([2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(got.subarray(VIRTIO_NET_HDR_SIZE)).toEqual(a);
    const splitBytes = Uint8Array.from([
      ...drv.bytes(split.addrs[1]!, 700),
      ...drv.bytes(split.addrs[2]!, 700),
    ]);
    expect(splitBytes).toEqual(b);
    expect(net.counters).toMatchObject({ rxFrames: 2, rxDropped: 0 });
  });

  it("completes a checksum the guest left partial (NEEDS_CSUM), and refuses offsets outside the frame", () => {
    const { drv, backend, net } = setup();
    const f = tcpFrame(101);
    const csumHeader = header(1);
    csumHeader.set([IP_END, 0, 16, 0], 6); // csum_start: the TCP header; csum_offset: its checksum field
    drv.post(TX, [{ out: csumHeader }, { out: f }]);
    const outside = header(1);
    outside.set([f.length - 1, 0, 16, 0], 6);
    drv.post(TX, [{ out: outside }, { out: f }]);
    drv.notify(TX);
    expect(backend.sent).toHaveLength(1);
    // The receiver's check: the pseudo-header and the segment, checksum included, sum to 0xffff.
    const sent = backend.sent[0]!;
    expect(onesSum(sent.subarray(IP_END), pseudoHeaderSum(sent))).toBe(0xffff);
    expect(sent.subarray(0, IP_END + 16)).toEqual(f.subarray(0, IP_END + 16));
    expect(net.counters).toMatchObject({ txFrames: 1, txMalformed: 1 });
  });

  it("marks received frames DATA_VALID only when the driver took GUEST_CSUM", () => {
    const { drv, backend } = setup(undefined, true, [VirtioNetFeature.MAC, VirtioNetFeature.STATUS, 32]);
    const rx = drv.post(RX, [{ in: VIRTIO_NET_HDR_SIZE + MAX_FRAME }]);
    expect(backend.deliverOne(frame(60))).toBe(true);
    expect(drv.bytes(rx.addrs[0]!, 1)[0]).toBe(0);
  });

  it("drops a frame when no RX buffer is posted, one too small, or a frame of a wrong size", () => {
    // Without mergeable buffers a frame must fit the one buffer it gets.
    const { drv, backend, net } = setup(undefined, true, [
      0,
      1,
      VirtioNetFeature.MAC,
      VirtioNetFeature.STATUS,
      32,
    ]);
    expect(backend.deliverOne(frame(60))).toBe(false); // nothing posted
    const small = drv.post(RX, [{ in: VIRTIO_NET_HDR_SIZE + 59 }]);
    expect(backend.deliverOne(frame(60))).toBe(false); // one byte short: the buffer is returned empty
    expect(drv.takeUsed(RX)).toEqual([[small.head, 0]]);
    const ok = drv.post(RX, [{ in: VIRTIO_NET_HDR_SIZE + MAX_FRAME }]);
    expect(backend.deliverOne(frame(MAX_FRAME + 1))).toBe(false); // oversized: no buffer taken
    expect(backend.deliverOne(new Uint8Array(10))).toBe(false); // runt
    expect(drv.takeUsed(RX)).toEqual([]);
    expect(backend.deliverOne(frame(60))).toBe(true);
    expect(drv.takeUsed(RX)).toEqual([[ok.head, VIRTIO_NET_HDR_SIZE + 60]]);
    expect(net.counters).toMatchObject({ rxFrames: 1, rxDropped: 4 });
  });

  it("drops frames before the driver is ready", () => {
    const { backend, net } = setup(new Ram(1 << 20), false);
    expect(backend.deliverOne(frame(60))).toBe(false);
    expect(net.counters.rxDropped).toBe(1);
  });

  it("marks the pages a received frame lands in dirty", () => {
    const { drv, ram, backend } = setup();
    // A buffer straddling a page boundary: both pages must be marked.
    const at = (drv.alloc(0x2000, 0x1000) + 0x1000 - 40) >>> 0;
    const head = drv.takeDesc(RX);
    drv.writeDesc(drv.queues[RX]!.desc, head, at, VIRTIO_NET_HDR_SIZE + MAX_FRAME, 2, 0);
    drv.publish(RX, head);
    ram.dirty.fetchAndClear();
    expect(backend.deliverOne(frame(200))).toBe(true);
    const page = (addr: number) => (addr - ram.base) >>> PAGE_SHIFT;
    expect(ram.dirty.isDirty(page(at))).toBe(true);
    expect(ram.dirty.isDirty(page(at) + 1)).toBe(true);
    expect(ram.dirty.isDirty(page(at) + 2)).toBe(false);
  });

  it("continues traffic after a snapshot: queues, counters and posted buffers carry over", () => {
    const a = setup();
    for (let i = 0; i < 3; i++) a.drv.post(RX, [{ in: VIRTIO_NET_HDR_SIZE + MAX_FRAME }]);
    a.drv.notify(RX);
    a.drv.post(TX, [{ out: header() }, { out: frame(60, 1) }]);
    a.drv.notify(TX);
    expect(a.backend.deliverOne(frame(70, 2))).toBe(true);
    a.drv.takeUsed(RX);
    a.drv.takeUsed(TX);
    // Posted but not yet notified when the snapshot is taken.
    a.drv.post(TX, [{ out: header() }, { out: frame(80, 3) }]);
    const state = decodeState(encodeState(a.dev.save())) as StateRecord;

    const ram = new Ram(a.ram.size);
    ram.u8.set(a.ram.u8);
    const b = setup(ram, false);
    b.dev.restore(state, 2);
    b.drv.continueFrom(a.drv);
    expect(b.net.counters).toEqual(a.net.counters);
    b.drv.notify(TX);
    expect(b.backend.sent).toEqual([frame(80, 3)]);
    expect(b.backend.deliverOne(frame(90, 4))).toBe(true);
    expect(b.backend.deliverOne(frame(91, 5))).toBe(true);
    expect(b.backend.deliverOne(frame(92, 6))).toBe(false); // the three buffers are used up
    expect(b.drv.takeUsed(RX).map(([, len]) => len)).toEqual([
      VIRTIO_NET_HDR_SIZE + 90,
      VIRTIO_NET_HDR_SIZE + 91,
    ]);
    expect(b.net.counters).toEqual({
      rxFrames: 3,
      rxMerged: 0,
      txFrames: 2,
      rxDropped: 1,
      txDropped: 0,
      txMalformed: 0,
    });
  });

  it("refuses a snapshot of another NIC or of a version it cannot read", () => {
    const { net } = setup();
    const saved = net.save();
    const other = new VirtioNet("52:54:00:00:00:01");
    expect(codeOf(() => other.restore(saved, 1))).toBe("SNAPSHOT_STATE_INVALID");
    expect(codeOf(() => net.restore(saved, 3))).toBe("SNAPSHOT_STATE_VERSION");
    expect(codeOf(() => net.restore({ ...saved, rxFrames: "x" }, 2))).toBe("SNAPSHOT_STATE_INVALID");
    // Version 1 had no rxMerged.
    const { rxMerged: _, ...v1 } = { ...saved, rxFrames: 5 };
    net.restore(v1, 1);
    expect(net.counters).toMatchObject({ rxFrames: 5, rxMerged: 0 });
  });

  it("merges neighbouring TCP segments into one GSO frame over mergeable buffers (GUEST_TSO4, MRG_RXBUF)", () => {
    const { drv, backend, net, ram } = setup();
    const bufs = Array.from({ length: 4 }, () => drv.post(RX, [{ in: 1536 }]));
    const segs = [tcpSegment(1000, 1448), tcpSegment(2448, 1448), tcpSegment(3896, 100)];
    ram.dirty.fetchAndClear();
    expect(backend.deliver([...segs, frame(60)])).toBe(4);
    const packetLength = IP_END + 20 + 2 * 1448 + 100;
    const used = drv.takeUsed(RX);
    // 12 + 3062 bytes over two 1536-byte buffers, then the ARP-sized frame in the third.
    expect(used).toEqual([
      [bufs[0]!.head, 1536],
      [bufs[1]!.head, VIRTIO_NET_HDR_SIZE + packetLength - 1536],
      [bufs[2]!.head, VIRTIO_NET_HDR_SIZE + 60],
    ]);
    const got = Uint8Array.from([
      ...drv.bytes(bufs[0]!.addrs[0]!, 1536),
      ...drv.bytes(bufs[1]!.addrs[0]!, 1536),
    ]);
    const h = new DataView(got.buffer);
    // DATA_VALID, GSO_TCPV4, hdr_len, gso_size = the first segment's payload, num_buffers = 2.
    expect([got[0], got[1], h.getUint16(2, true), h.getUint16(4, true), h.getUint16(10, true)]).toEqual([
      2,
      1,
      IP_END + 20,
      1448,
      2,
    ]);
    const packet = got.subarray(VIRTIO_NET_HDR_SIZE, VIRTIO_NET_HDR_SIZE + packetLength);
    expect(packet.subarray(IP_END + 20)).toEqual(
      Uint8Array.from(segs.flatMap((s) => [...s.subarray(IP_END + 20)])),
    );
    expect(drv.bytes(bufs[2]!.addrs[0]!, 2)).toEqual(Uint8Array.of(2, 0)); // not merged: no GSO
    expect(net.counters).toMatchObject({ rxFrames: 4, rxMerged: 2, rxDropped: 0 });
    const page = (addr: number) => (addr - ram.base) >>> PAGE_SHIFT;
    expect(ram.dirty.isDirty(page(bufs[1]!.addrs[0]!))).toBe(true);
  });

  it("uses no buffer for a frame that more buffers than posted would hold, and merges nothing the driver did not take", () => {
    const { drv, backend, net } = setup();
    const small = drv.post(RX, [{ in: 1536 }]);
    expect(backend.deliver([tcpSegment(1000, 1448), tcpSegment(2448, 1448)])).toBe(0);
    expect(drv.takeUsed(RX)).toEqual([]);
    expect(net.counters).toMatchObject({ rxFrames: 0, rxDropped: 2 });
    drv.post(RX, [{ in: 1536 }]);
    expect(backend.deliver([tcpSegment(1000, 1448), tcpSegment(2448, 1448)])).toBe(2);
    expect(drv.takeUsed(RX).map(([head]) => head)[0]).toBe(small.head);

    const plain = setup(undefined, true, [0, 1, VirtioNetFeature.MAC, VirtioNetFeature.STATUS, 32]);
    for (let i = 0; i < 2; i++) plain.drv.post(RX, [{ in: 1536 }]);
    expect(plain.backend.deliver([tcpSegment(1000, 1448), tcpSegment(2448, 1448)])).toBe(2);
    expect(plain.drv.takeUsed(RX).map(([, len]) => len)).toEqual([
      12 + IP_END + 20 + 1448,
      12 + IP_END + 20 + 1448,
    ]);
    expect(plain.net.counters.rxMerged).toBe(0);
  });
});

const IP_END = 14 + 20;

/** An IPv4/TCP frame with `payload` bytes, the TCP checksum field holding the pseudo-header's sum as Linux leaves it. */
function tcpFrame(payload: number): Uint8Array {
  const f = frame(IP_END + 20 + payload, 7);
  f.set([0x08, 0x00], 12);
  f.set([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 10, 78, 0, 10, 10, 78, 0, 1], 14);
  const ipLen = f.length - 14;
  f.set([ipLen >> 8, ipLen & 0xff], 16);
  const folded = onesSum(new Uint8Array(0), pseudoHeaderSum(f));
  f.set([folded >> 8, folded & 0xff], IP_END + 16);
  return f;
}

/** A full IPv4/TCP data segment (ACK) at `seq`, its IP header checksum set, as the switch delivers it. */
function tcpSegment(seq: number, payload: number): Uint8Array {
  const f = tcpFrame(payload);
  f.set([2, 0, 0, 0, 0, 1], 0);
  f[IP_END + 12] = 5 << 4;
  f[IP_END + 13] = 0x10;
  f.fill(0, IP_END + 18, IP_END + 20); // no urgent data
  new DataView(f.buffer).setUint32(IP_END + 4, seq);
  f.fill(seq & 0xff, IP_END + 20);
  let sum = 0;
  for (let i = 14; i < IP_END; i += 2) sum += (f[i]! << 8) | f[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.set([(~sum >> 8) & 0xff, ~sum & 0xff], 24);
  return f;
}

/** Source, destination, protocol and TCP length (RFC 793 §3.1), not folded. */
function pseudoHeaderSum(f: Uint8Array): number {
  const ip = f.subarray(14, IP_END);
  let sum = 6 + (f.length - IP_END);
  for (let i = 12; i < 20; i += 2) sum += (ip[i]! << 8) | ip[i + 1]!;
  return sum;
}

/** The ones' complement sum of `bytes` (big-endian words, odd byte padded) onto `sum`, folded to 16 bits. */
function onesSum(bytes: Uint8Array, sum: number): number {
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
