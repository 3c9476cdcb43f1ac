import { rng } from "@skiff/devkit";
import { describe, expect, it } from "vitest";
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpSegment } from "../wire/tcp.js";
import {
  IDLE_MS,
  INITIAL_RTO_MS,
  MAX_CONNECTIONS_PER_OWNER,
  MAX_REQUEST_BYTES,
  MAX_RETRANSMITS,
  type ResponderTimers,
  type TcpPeer,
  TcpResponder,
} from "./tcp-responder.js";

/** Timers that fire only when the test moves the clock. */
class HandClock implements ResponderTimers {
  private now = 0;
  private next = 0;
  private readonly pending = new Map<number, { at: number; fire: () => void }>();

  set(fire: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fire });
    return id;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = [...this.pending.entries()]
        .filter(([, t]) => t.at <= until)
        .sort((a, b) => a[1].at - b[1].at);
      if (due.length === 0) break;
      const [id, timer] = due[0];
      this.pending.delete(id);
      this.now = timer.at;
      timer.fire();
    }
    this.now = until;
  }

  get armed(): number {
    return this.pending.size;
  }
}

const ISS = 1000;
const PEER: TcpPeer = {
  owner: "a",
  remoteIp: 0x0a01000a,
  remotePort: 40000,
  localIp: 0xa9fea9fe,
  localPort: 80,
};

/** A responder whose response is "R" repeated `size` times once the request holds "\n\n". */
function setup(size = 250, iss = ISS) {
  const clock = new HandClock();
  const sent: TcpSegment[] = [];
  const responder = new TcpResponder({
    respond: (_peer, request) =>
      Buffer.from(request).includes("\n\n") ? Buffer.alloc(size, "R") : undefined,
    send: (_peer, segment) => sent.push(segment),
    timers: clock,
    initialSequence: () => iss,
  });
  const take = () => sent.splice(0, sent.length);
  return { clock, responder, take };
}

function seg(
  flags: number,
  seq: number,
  ack: number,
  payload = "",
  extra: Partial<TcpSegment> = {},
): TcpSegment {
  return {
    srcPort: PEER.remotePort,
    dstPort: 80,
    seq,
    ack,
    flags,
    window: 65535,
    payload: Buffer.from(payload),
    ...extra,
  };
}

/** The guest's side: SYN at 5000, then the ACK of the SYN-ACK. */
function connect(t: ReturnType<typeof setup>, mss = 100, iss = ISS) {
  t.responder.input(PEER, seg(TCP_SYN, 5000, 0, "", { mss }));
  const [synAck] = t.take();
  expect(synAck.flags).toBe(TCP_SYN | TCP_ACK);
  expect(synAck.ack).toBe(5001);
  expect(synAck.seq).toBe(iss);
  expect(synAck.mss).toBe(1460);
  t.responder.input(PEER, seg(TCP_ACK, 5001, (iss + 1) >>> 0));
  expect(t.take()).toEqual([]);
}

const REQUEST = "GET /\n\n";

describe("TcpResponder", () => {
  it("answers one request in segments of the guest's MSS, then FIN, and forgets the connection at the end", () => {
    const t = setup(250);
    connect(t);
    t.responder.input(PEER, seg(TCP_ACK | TCP_PSH, 5001, ISS + 1, REQUEST));
    const out = t.take();
    expect(out.map((s) => [s.flags, s.seq, s.payload.length])).toEqual([
      [TCP_ACK, ISS + 1, 0],
      [TCP_ACK, ISS + 1, 100],
      [TCP_ACK, ISS + 101, 100],
      [TCP_ACK | TCP_PSH, ISS + 201, 50],
      [TCP_FIN | TCP_ACK, ISS + 251, 0],
    ]);
    expect(out.every((s) => s.ack === 5001 + REQUEST.length)).toBe(true);
    // The guest acknowledges everything and closes its side.
    t.responder.input(PEER, seg(TCP_ACK, 5008, ISS + 252));
    expect(t.responder.size).toBe(1);
    t.responder.input(PEER, seg(TCP_FIN | TCP_ACK, 5008, ISS + 252));
    expect(t.take().map((s) => [s.flags, s.ack])).toEqual([[TCP_ACK, 5009]]);
    expect(t.responder.size).toBe(0);
    expect(t.clock.armed).toBe(0);
  });

  it("sends no more than the guest's window and goes on as it opens", () => {
    const t = setup(250);
    connect(t);
    t.responder.input(PEER, seg(TCP_ACK, 5001, ISS + 1, REQUEST, { window: 150 }));
    expect(
      t
        .take()
        .filter((s) => s.payload.length > 0)
        .map((s) => s.payload.length),
    ).toEqual([100, 50]);
    t.responder.input(PEER, seg(TCP_ACK, 5008, ISS + 151, "", { window: 150 }));
    const more = t.take();
    expect(more.map((s) => [s.seq, s.payload.length, s.flags])).toEqual([
      [ISS + 151, 100, TCP_ACK | TCP_PSH],
      [ISS + 251, 0, TCP_FIN | TCP_ACK],
    ]);
  });

  it("retransmits from the oldest unacknowledged byte on a doubling timer, then resets", () => {
    const t = setup(150);
    connect(t);
    t.responder.input(PEER, seg(TCP_ACK, 5001, ISS + 1, REQUEST));
    t.take();
    t.responder.input(PEER, seg(TCP_ACK, 5008, ISS + 101));
    t.clock.advance(INITIAL_RTO_MS - 1);
    expect(t.take()).toEqual([]);
    t.clock.advance(1);
    expect(t.take().map((s) => [s.seq, s.payload.length])).toEqual([
      [ISS + 101, 50],
      [ISS + 151, 0],
    ]);
    t.clock.advance(INITIAL_RTO_MS * 2);
    expect(t.take()).toHaveLength(2);
    for (let i = 2; i < MAX_RETRANSMITS; i++) t.clock.advance(INITIAL_RTO_MS * 2 ** i);
    t.take();
    t.clock.advance(INITIAL_RTO_MS * 2 ** MAX_RETRANSMITS);
    expect(t.take().map((s) => s.flags)).toEqual([TCP_RST | TCP_ACK]);
    expect(t.responder.size).toBe(0);
  });

  it("answers a retransmitted SYN with the same SYN-ACK, and resends it on its own timer", () => {
    const t = setup();
    t.responder.input(PEER, seg(TCP_SYN, 5000, 0, "", { mss: 100 }));
    const [first] = t.take();
    t.responder.input(PEER, seg(TCP_SYN, 5000, 0, "", { mss: 100 }));
    expect(t.take()).toEqual([first]);
    t.clock.advance(INITIAL_RTO_MS);
    expect(t.take()).toEqual([first]);
    expect(t.responder.size).toBe(1);
  });

  it("resets what belongs to no connection and ignores a reset at the wrong sequence number", () => {
    const t = setup();
    t.responder.input(PEER, seg(TCP_ACK, 5001, 777, "x"));
    expect(t.take().map((s) => [s.flags, s.seq])).toEqual([[TCP_RST, 777]]);
    t.responder.input(PEER, seg(TCP_FIN, 5001, 0));
    expect(t.take().map((s) => [s.flags, s.ack])).toEqual([[TCP_RST | TCP_ACK, 5002]]);
    t.responder.input(PEER, seg(TCP_RST, 5001, 0));
    expect(t.take()).toEqual([]);
    connect(t);
    t.responder.input(PEER, seg(TCP_RST, 9999, 0));
    expect(t.responder.size).toBe(1);
    t.responder.input(PEER, seg(TCP_RST, 5001, 0));
    expect(t.responder.size).toBe(0);
  });

  it("resets a request that grows past the limit without an answer", () => {
    const t = setup();
    connect(t);
    let seq = 5001;
    const chunk = "x".repeat(1000);
    while (t.responder.size > 0 && seq < 5001 + 2 * MAX_REQUEST_BYTES) {
      t.responder.input(PEER, seg(TCP_ACK, seq, ISS + 1, chunk));
      seq += chunk.length;
    }
    expect(seq - 5001).toBeLessThanOrEqual(MAX_REQUEST_BYTES + chunk.length);
    expect(t.take().at(-1)?.flags).toBe(TCP_RST | TCP_ACK);
  });

  it("acknowledges out-of-order data without taking it", () => {
    const t = setup();
    connect(t);
    t.responder.input(PEER, seg(TCP_ACK, 5004, ISS + 1, "\n\n"));
    expect(t.take().map((s) => [s.flags, s.ack, s.payload.length])).toEqual([[TCP_ACK, 5001, 0]]);
  });

  it("answers a guest that closes before asking with an empty response and FIN", () => {
    const t = setup();
    connect(t);
    t.responder.input(PEER, seg(TCP_FIN | TCP_ACK, 5001, ISS + 1));
    expect(t.take().map((s) => [s.flags, s.seq, s.ack])).toEqual([
      [TCP_ACK, ISS + 1, 5002],
      [TCP_FIN | TCP_ACK, ISS + 1, 5002],
    ]);
    t.responder.input(PEER, seg(TCP_ACK, 5002, ISS + 2));
    expect(t.responder.size).toBe(0);
  });

  it("probes a zero window with one byte when its timer fires", () => {
    const t = setup(50);
    connect(t);
    t.responder.input(PEER, seg(TCP_ACK, 5001, ISS + 1, REQUEST, { window: 0 }));
    expect(t.take().filter((s) => s.payload.length > 0)).toEqual([]);
    t.clock.advance(INITIAL_RTO_MS);
    expect(t.take().map((s) => [s.seq, s.payload.length])).toEqual([[ISS + 1, 1]]);
  });

  it("forgets a connection that stays idle", () => {
    const t = setup();
    connect(t);
    t.clock.advance(IDLE_MS);
    expect(t.responder.size).toBe(0);
  });

  it("counts sequence numbers modulo 2^32", () => {
    const iss = 2 ** 32 - 60;
    const t = setup(120, iss);
    connect(t, 100, iss);
    t.responder.input(PEER, seg(TCP_ACK, 5001, iss + 1, REQUEST));
    const data = t.take().filter((s) => s.payload.length > 0 || s.flags & TCP_FIN);
    expect(data.map((s) => s.seq)).toEqual([iss + 1, (iss + 101) >>> 0, (iss + 121) >>> 0]);
    t.responder.input(PEER, seg(TCP_FIN | TCP_ACK, 5008, (iss + 122) >>> 0));
    expect(t.responder.size).toBe(0);
  });

  it("refuses more connections per owner than the limit", () => {
    const t = setup();
    for (let i = 0; i <= MAX_CONNECTIONS_PER_OWNER; i++)
      t.responder.input({ ...PEER, remotePort: 1000 + i }, seg(TCP_SYN, 1, 0));
    expect(t.responder.size).toBe(MAX_CONNECTIONS_PER_OWNER);
    expect(t.take().at(-1)?.flags).toBe(TCP_RST | TCP_ACK);
    t.responder.input({ ...PEER, owner: "b" }, seg(TCP_SYN, 1, 0));
    expect(t.responder.size).toBe(MAX_CONNECTIONS_PER_OWNER + 1);
  });

  it("never throws on random segments and keeps its bounds", () => {
    const next = rng(19);
    const t = setup(3000);
    const word = () => Math.floor(next() * 2 ** 32) >>> 0;
    for (let i = 0; i < 5000; i++) {
      const port = 40000 + Math.floor(next() * 40);
      const near = next() < 0.5;
      t.responder.input(
        { ...PEER, remotePort: port },
        {
          srcPort: port,
          dstPort: 80,
          seq: near ? 5000 + Math.floor(next() * 20) : word(),
          ack: near ? ISS + Math.floor(next() * 4000) : word(),
          flags: Math.floor(next() * 64),
          window: Math.floor(next() * 65536),
          ...(next() < 0.3 ? { mss: Math.floor(next() * 65536) } : {}),
          payload: Buffer.alloc(Math.floor(next() * 1500), next() < 0.1 ? "\n" : "x"),
        },
      );
      if (i % 500 === 0) t.clock.advance(Math.floor(next() * 2000));
      expect(t.responder.size).toBeLessThanOrEqual(MAX_CONNECTIONS_PER_OWNER);
    }
    for (const s of t.take()) expect(s.payload.length).toBeLessThanOrEqual(1460);
    t.clock.advance(IDLE_MS * 100);
    expect(t.responder.size).toBe(0);
    expect(t.clock.armed).toBe(0);
  });
});
