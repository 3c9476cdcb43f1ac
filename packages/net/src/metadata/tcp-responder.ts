import { randomInt } from "node:crypto";
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpSegment } from "../wire/tcp.js";

/** Timers the responder arms; tests pass a hand-driven clock. */
export interface ResponderTimers {
  set(fire: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const REAL_TIMERS: ResponderTimers = {
  set: (fire, ms) => setTimeout(fire, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Both ends of a connection as the guest's segment names them; `owner` is the port it came from. */
export interface TcpPeer {
  owner: string;
  /** The guest's address and port. */
  remoteIp: number;
  remotePort: number;
  /** The address and port it asked for (the service's). */
  localIp: number;
  localPort: number;
}

export interface TcpResponderOptions {
  /**
   * The request so far. Returns the whole response once it has one, or undefined to wait for more
   * bytes (a guest that closes its side first gets an empty response).
   */
  respond(peer: TcpPeer, request: Uint8Array): Uint8Array | undefined;
  /** Hands a segment to the guest. */
  send(peer: TcpPeer, segment: TcpSegment): void;
  timers?: ResponderTimers;
  /** Our initial sequence numbers; random unless a test fixes them. */
  initialSequence?: () => number;
  /** The largest segment we accept (our SYN-ACK's MSS option). */
  mss?: number;
}

/** A request longer than this without a response is refused with a reset. */
export const MAX_REQUEST_BYTES = 4096;
/** Open connections per owner and in all: a guest opening more gets resets. */
export const MAX_CONNECTIONS_PER_OWNER = 16;
export const MAX_CONNECTIONS = 4096;
/** First retransmission timeout; it doubles at each try. Loopback links answer in far less. */
export const INITIAL_RTO_MS = 200;
export const MAX_RETRANSMITS = 6;
/** A connection that neither sends nor acknowledges for this long is forgotten. */
export const IDLE_MS = 10_000;
/** RFC 9293 §3.7.1: the MSS assumed when the peer sends none. */
const DEFAULT_PEER_MSS = 536;
const WINDOW = 65_535;

interface Connection {
  readonly key: string;
  readonly peer: TcpPeer;
  readonly iss: number;
  /** Oldest of our sequence numbers not acknowledged; next one to send; one past the highest sent. */
  sndUna: number;
  sndNxt: number;
  sndMax: number;
  /** Next sequence number we expect from the guest. */
  rcvNxt: number;
  established: boolean;
  peerMss: number;
  peerWindow: number;
  request: Buffer;
  /** Set once the request is answered; the FIN follows the last byte. */
  response: Uint8Array | undefined;
  peerFin: boolean;
  retransmits: number;
  timer: unknown;
}

/**
 * The server side of TCP (RFC 9293) for one-request services answered inside the switch: the
 * handshake, one request, a response in segments sized by the guest's MSS and window, our FIN,
 * retransmission on a timer (go-back-N from the oldest unacknowledged byte). Nothing else: no
 * options beyond MSS, no out-of-order queue (a segment that is not the next expected is answered
 * with an ACK and dropped), no urgent data. Every input is assumed hostile: it never throws and
 * never holds more than MAX_REQUEST_BYTES per connection.
 */
export class TcpResponder {
  private readonly connections = new Map<string, Connection>();
  private readonly perOwner = new Map<string, number>();
  private readonly timers: ResponderTimers;
  private readonly initialSequence: () => number;
  private readonly mss: number;

  constructor(private readonly options: TcpResponderOptions) {
    this.timers = options.timers ?? REAL_TIMERS;
    this.initialSequence = options.initialSequence ?? (() => randomInt(0, 2 ** 32 - 1));
    this.mss = options.mss ?? 1460;
  }

  get size(): number {
    return this.connections.size;
  }

  /** A segment from the guest, its checksum already checked. */
  input(peer: TcpPeer, seg: TcpSegment): void {
    const key = `${peer.owner}|${peer.remoteIp}:${peer.remotePort}|${peer.localIp}:${peer.localPort}`;
    const conn = this.connections.get(key);
    if (!conn) {
      this.unknown(key, peer, seg);
      return;
    }
    if (seg.flags & TCP_RST) {
      // Only a reset at the exact next sequence number counts (RFC 5961 §3): a guessed one does not.
      if (seg.seq === conn.rcvNxt) this.forget(conn);
      return;
    }
    if (seg.flags & TCP_SYN) {
      // A retransmitted SYN: our SYN-ACK was lost. Anything else gets the current ACK.
      if (!conn.established && seg.seq === (conn.rcvNxt - 1) >>> 0) this.sendSynAck(conn);
      else this.sendAck(conn);
      return;
    }
    if (!(seg.flags & TCP_ACK)) return;
    if (!this.acknowledge(conn, seg)) return;
    if (!conn.established) return;
    conn.peerWindow = seg.window;
    let received = false;
    if (seg.payload.length > 0) {
      received = true;
      if (seg.seq === conn.rcvNxt) {
        conn.rcvNxt = (conn.rcvNxt + seg.payload.length) >>> 0;
        // Bytes after the request are taken and dropped, so the guest is not stuck retransmitting.
        if (!conn.response) conn.request = Buffer.concat([conn.request, seg.payload]);
      }
    }
    if (seg.flags & TCP_FIN && (seg.seq + seg.payload.length) >>> 0 === conn.rcvNxt && !conn.peerFin) {
      conn.rcvNxt = (conn.rcvNxt + 1) >>> 0;
      conn.peerFin = true;
      received = true;
    }
    if (received) this.sendAck(conn);
    if (!conn.response) {
      conn.response = this.options.respond(conn.peer, conn.request);
      if (!conn.response && conn.peerFin) conn.response = new Uint8Array(0);
      if (!conn.response && conn.request.length > MAX_REQUEST_BYTES) {
        this.reset(conn);
        return;
      }
      if (conn.response) conn.request = Buffer.alloc(0);
    }
    this.pump(conn, false);
    if (this.finAcked(conn) && conn.peerFin) this.forget(conn);
    else this.arm(conn);
  }

  /** Forgets every connection of an owner (its port went away). */
  dropOwner(owner: string): void {
    for (const conn of this.connections.values()) if (conn.peer.owner === owner) this.forget(conn);
  }

  close(): void {
    for (const conn of this.connections.values()) this.forget(conn);
  }

  /** A segment for no connection: a SYN opens one, anything but a reset is answered with one. */
  private unknown(key: string, peer: TcpPeer, seg: TcpSegment): void {
    if (seg.flags & TCP_RST) return;
    const owned = this.perOwner.get(peer.owner) ?? 0;
    const synOnly = (seg.flags & (TCP_SYN | TCP_ACK | TCP_FIN)) === TCP_SYN;
    if (!synOnly || owned >= MAX_CONNECTIONS_PER_OWNER || this.connections.size >= MAX_CONNECTIONS) {
      this.sendReset(peer, seg);
      return;
    }
    const iss = this.initialSequence() >>> 0;
    const conn: Connection = {
      key,
      peer,
      iss,
      sndUna: iss,
      sndNxt: iss,
      sndMax: iss,
      rcvNxt: (seg.seq + 1) >>> 0,
      established: false,
      peerMss: Math.max(64, seg.mss ?? DEFAULT_PEER_MSS),
      peerWindow: seg.window,
      request: Buffer.alloc(0),
      response: undefined,
      peerFin: false,
      retransmits: 0,
      timer: undefined,
    };
    this.connections.set(key, conn);
    this.perOwner.set(peer.owner, owned + 1);
    this.sendSynAck(conn);
    this.arm(conn);
  }

  /** Processes the ACK field. False: the segment is to be dropped (it acknowledges what we never sent). */
  private acknowledge(conn: Connection, seg: TcpSegment): boolean {
    if (after(seg.ack, conn.sndMax)) {
      this.sendAck(conn);
      return false;
    }
    if (after(seg.ack, conn.sndUna)) {
      conn.sndUna = seg.ack;
      // After a go-back retransmission the guest may acknowledge what was sent before it.
      if (after(seg.ack, conn.sndNxt)) conn.sndNxt = seg.ack;
      conn.retransmits = 0;
      if (!conn.established && seg.ack === (conn.iss + 1) >>> 0) conn.established = true;
    }
    return true;
  }

  /** Sends what the guest's window allows from sndNxt on, then our FIN after the last byte. */
  private pump(conn: Connection, probe: boolean): void {
    const response = conn.response;
    if (!conn.established || !response) return;
    const dataStart = (conn.iss + 1) >>> 0;
    const finSeq = (dataStart + response.length) >>> 0;
    // A zero window is probed with one byte at each timeout (the persist timer's job).
    const window = probe ? Math.max(1, conn.peerWindow) : conn.peerWindow;
    const limit = (conn.sndUna + window) >>> 0;
    while (before(conn.sndNxt, finSeq)) {
      const offset = (conn.sndNxt - dataStart) >>> 0;
      const room = (limit - conn.sndNxt) | 0;
      const length = Math.min(conn.peerMss, this.mss, response.length - offset, room);
      if (length <= 0) return;
      const last = offset + length === response.length;
      this.emit(
        conn,
        conn.sndNxt,
        TCP_ACK | (last ? TCP_PSH : 0),
        response.subarray(offset, offset + length),
      );
      conn.sndNxt = (conn.sndNxt + length) >>> 0;
    }
    if (conn.sndNxt === finSeq) {
      this.emit(conn, finSeq, TCP_FIN | TCP_ACK, EMPTY);
      conn.sndNxt = (finSeq + 1) >>> 0;
    }
  }

  private finAcked(conn: Connection): boolean {
    return conn.response !== undefined && conn.sndUna === (conn.iss + 1 + conn.response.length + 1) >>> 0;
  }

  /** One timer per connection: retransmission while something is unacknowledged, idleness otherwise. */
  private arm(conn: Connection): void {
    if (conn.timer !== undefined) this.timers.clear(conn.timer);
    const waiting = conn.sndUna !== conn.sndNxt || (conn.response !== undefined && !this.finAcked(conn));
    if (!waiting) {
      conn.timer = this.timers.set(() => this.forget(conn), IDLE_MS);
      return;
    }
    conn.timer = this.timers.set(() => this.retransmit(conn), INITIAL_RTO_MS * 2 ** conn.retransmits);
  }

  private retransmit(conn: Connection): void {
    conn.timer = undefined;
    if (!this.connections.has(conn.key)) return;
    if (conn.retransmits >= MAX_RETRANSMITS) {
      this.reset(conn);
      return;
    }
    conn.retransmits++;
    conn.sndNxt = conn.sndUna;
    if (!conn.established) this.sendSynAck(conn);
    else this.pump(conn, true);
    this.arm(conn);
  }

  private sendSynAck(conn: Connection): void {
    this.options.send(conn.peer, {
      ...this.header(conn, conn.iss, TCP_SYN | TCP_ACK),
      mss: this.mss,
      payload: EMPTY,
    });
    conn.sndNxt = (conn.iss + 1) >>> 0;
    if (after(conn.sndNxt, conn.sndMax)) conn.sndMax = conn.sndNxt;
  }

  private sendAck(conn: Connection): void {
    const seq = conn.established ? conn.sndNxt : (conn.iss + 1) >>> 0;
    this.emit(conn, seq, TCP_ACK, EMPTY);
  }

  private emit(conn: Connection, seq: number, flags: number, payload: Uint8Array): void {
    const end = (seq + payload.length + (flags & TCP_FIN ? 1 : 0)) >>> 0;
    if (after(end, conn.sndMax)) conn.sndMax = end;
    this.options.send(conn.peer, { ...this.header(conn, seq, flags), payload });
  }

  private header(conn: Connection, seq: number, flags: number): Omit<TcpSegment, "payload"> {
    return {
      srcPort: conn.peer.localPort,
      dstPort: conn.peer.remotePort,
      seq,
      ack: conn.rcvNxt,
      flags,
      window: WINDOW,
    };
  }

  /** RFC 9293 §3.10.7.1: the reset for a segment that belongs to no connection. */
  private sendReset(peer: TcpPeer, seg: TcpSegment): void {
    const length = seg.payload.length + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & TCP_FIN ? 1 : 0);
    const base = { srcPort: peer.localPort, dstPort: peer.remotePort, window: 0, payload: EMPTY };
    if (seg.flags & TCP_ACK) this.options.send(peer, { ...base, seq: seg.ack, ack: 0, flags: TCP_RST });
    else
      this.options.send(peer, {
        ...base,
        seq: 0,
        ack: (seg.seq + length) >>> 0,
        flags: TCP_RST | TCP_ACK,
      });
  }

  private reset(conn: Connection): void {
    this.emit(conn, conn.sndNxt, TCP_RST | TCP_ACK, EMPTY);
    this.forget(conn);
  }

  private forget(conn: Connection): void {
    if (this.connections.get(conn.key) !== conn) return;
    if (conn.timer !== undefined) this.timers.clear(conn.timer);
    conn.timer = undefined;
    this.connections.delete(conn.key);
    const owned = (this.perOwner.get(conn.peer.owner) ?? 1) - 1;
    if (owned > 0) this.perOwner.set(conn.peer.owner, owned);
    else this.perOwner.delete(conn.peer.owner);
  }
}

const EMPTY = new Uint8Array(0);

/** Sequence-number order modulo 2^32 (RFC 9293 §3.4). */
function before(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

function after(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
