import type { Socket } from "node:net";
import { SkiffError } from "@skiff/common";
import { MAX_FRAME_BYTES } from "../wire/ethernet.js";

/** Each frame on a port link: a 2-byte big-endian length, then the Ethernet frame. */
export const LENGTH_PREFIX_BYTES = 2;

export function encodeFrame(frame: Uint8Array): Buffer {
  if (frame.length === 0 || frame.length > MAX_FRAME_BYTES) {
    throw new SkiffError("NET_LINK_BAD_FRAME", `frame of ${frame.length} bytes cannot be sent`);
  }
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_BYTES + frame.length);
  out.writeUInt16BE(frame.length, 0);
  out.set(frame, LENGTH_PREFIX_BYTES);
  return out;
}

/**
 * Cuts a byte stream back into frames. A length of 0 or over the largest frame means the peer is
 * broken or hostile: `push` then throws NET_LINK_BAD_FRAME and the link must be closed.
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buf.length >= LENGTH_PREFIX_BYTES) {
      const length = buf.readUInt16BE(0);
      if (length === 0 || length > MAX_FRAME_BYTES) {
        this.pending = Buffer.alloc(0);
        throw new SkiffError("NET_LINK_BAD_FRAME", `frame length ${length} on a port link`);
      }
      if (buf.length < LENGTH_PREFIX_BYTES + length) break;
      onFrame(buf.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + length));
      buf = buf.subarray(LENGTH_PREFIX_BYTES + length);
    }
    // Keep a copy of the tail only: the chunk's buffer may be reused by the stream.
    this.pending = Buffer.from(buf);
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
