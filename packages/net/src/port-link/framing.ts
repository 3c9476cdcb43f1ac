import type { Socket } from "node:net";
import { SkiffError } from "@skiff/common";
import { MAX_FRAME_BYTES } from "../wire/ethernet.js";

/**
 * Each message on a port link: a 2-byte big-endian length, then the Ethernet frame. A length of 0
 * introduces a signal instead: one byte, a LinkSignal.
 */
export const LENGTH_PREFIX_BYTES = 2;

/** What the two ends of a port link tell each other besides frames. */
export enum LinkSignal {
  /** VMM → switch: the guest stops for a migration's last copy; keep its frames. */
  Hold = 1,
  /** Switch → VMM: holding; every frame sent before this one is already on the link. */
  Held = 2,
  /** VMM → switch: the guest runs on here (the migration rolled back); send what was kept. */
  Resume = 3,
  /**
   * VMM → switch: a migration committed into this VMM and its guest runs its first instruction:
   * the port is here now, announce it. In band, so it precedes every frame the guest sends.
   */
  Claim = 4,
}

export function encodeFrame(frame: Uint8Array): Buffer {
  if (frame.length === 0 || frame.length > MAX_FRAME_BYTES) {
    throw new SkiffError("NET_LINK_BAD_FRAME", `frame of ${frame.length} bytes cannot be sent`);
  }
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + frame.length);
  out.writeUInt16BE(frame.length, 0);
  out.set(frame, LENGTH_PREFIX_BYTES);
  return out;
}

export function encodeSignal(signal: LinkSignal): Buffer {
  return Buffer.from([0, 0, signal]);
}

function isSignal(code: number): code is LinkSignal {
  return code >= LinkSignal.Hold && code <= LinkSignal.Claim;
}

/**
 * Cuts a byte stream back into frames and signals. A length over the largest frame or an unknown
 * signal means the peer is broken or hostile: `push` then throws NET_LINK_BAD_FRAME and the link
 * must be closed.
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (frame: Buffer) => void, onSignal?: (signal: LinkSignal) => void): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buf.length >= LENGTH_PREFIX_BYTES) {
      const length = buf.readUInt16BE(0);
      if (length === 0) {
        if (buf.length < LENGTH_PREFIX_BYTES + 1) break;
        const code = buf[LENGTH_PREFIX_BYTES]!;
        if (!isSignal(code) || !onSignal) this.refuse(`signal ${code}`);
        onSignal(code);
        buf = buf.subarray(LENGTH_PREFIX_BYTES + 1);
        continue;
      }
      if (length > MAX_FRAME_BYTES) this.refuse(`frame length ${length}`);
      if (buf.length < LENGTH_PREFIX_BYTES + length) break;
      onFrame(buf.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + length));
      buf = buf.subarray(LENGTH_PREFIX_BYTES + length);
    }
    // Keep a copy of the tail only: the chunk's buffer may be reused by the stream.
    this.pending = Buffer.from(buf);
  }

  private refuse(what: string): never {
    this.pending = Buffer.alloc(0);
    throw new SkiffError("NET_LINK_BAD_FRAME", `${what} on a port link`);
  }
}

/** Writes, holding the socket corked until the end of this tick: a burst of frames is one syscall. */
export function writeCorked(socket: Socket, bytes: Buffer): void {
  if (socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  socket.write(bytes);
}
