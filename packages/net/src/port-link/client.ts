import { connect, type Socket } from "node:net";
import { SkiffError } from "@skiff/common";
import { encodeFrame, encodeSignal, FrameReader, LinkSignal, writeCorked } from "./framing.js";

const MAX_QUEUED_BYTES = 256 * 1024;

/** The VMM's end of its NIC's link to the node switch. */
export class PortLinkClient {
  private handler: ((frame: Buffer) => void) | undefined;
  private readEndHandler: (() => void) | undefined;
  private closeHandler: (() => void) | undefined;
  private heldWaiters: (() => void)[] = [];
  /** Frames the client refused to queue because the switch was not reading fast enough. */
  dropped = 0;

  private constructor(private readonly socket: Socket) {
    const reader = new FrameReader();
    socket.on("data", (chunk) => {
      try {
        reader.push(
          chunk,
          (frame) => this.handler?.(frame),
          (signal) => {
            if (signal !== LinkSignal.Held)
              throw new SkiffError("NET_LINK_BAD_FRAME", `signal ${signal} from the switch`);
            for (const done of this.heldWaiters.splice(0)) done();
          },
        );
      } catch {
        socket.destroy();
      } finally {
        this.readEndHandler?.();
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      for (const done of this.heldWaiters.splice(0)) done();
      this.closeHandler?.();
    });
  }

  static connect(path: string): Promise<PortLinkClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once("connect", () => resolve(new PortLinkClient(socket)));
      socket.once("error", (err) =>
        reject(
          new SkiffError(
            "NET_LINK_CONNECT",
            `cannot reach the switch at ${path}: ${err.message}`,
            undefined,
            { cause: err },
          ),
        ),
      );
    });
  }

  /**
   * Frames from the switch for this NIC; `readEnd` (optional) is called once the frames of one
   * read from the socket have all been handed over, so a caller can pass them on together.
   */
  onFrame(handler: (frame: Buffer) => void, readEnd?: () => void): void {
    this.handler = handler;
    this.readEndHandler = readEnd;
  }

  /** The link closed (the switch went away, or close()): a VMM reconnects then. */
  onClose(handler: () => void): void {
    this.closeHandler = handler;
  }

  /** Sends one frame; false (and counted) when the link is backed up or closed: a NIC drops then. */
  send(frame: Uint8Array): boolean {
    if (this.socket.destroyed || this.socket.writableLength > MAX_QUEUED_BYTES) {
      this.dropped++;
      return false;
    }
    writeCorked(this.socket, encodeFrame(frame));
    return true;
  }

  /**
   * Asks the switch to keep this NIC's frames (the guest stops for a migration's last copy).
   * Resolves once the switch holds them and every frame it sent before has been handed to
   * `onFrame`, or when the link closes.
   */
  hold(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.heldWaiters.push(resolve);
      writeCorked(this.socket, encodeSignal(LinkSignal.Hold));
    });
  }

  /** The guest runs on here: the switch sends what it kept, then new frames as before. */
  resume(): void {
    if (!this.socket.destroyed) writeCorked(this.socket, encodeSignal(LinkSignal.Resume));
  }

  /**
   * The guest runs here after a migration's commit: the switch takes the port and announces it.
   * Sent at once, behind the frames already written, not at the end of the tick.
   */
  claim(): void {
    if (this.socket.destroyed) return;
    writeCorked(this.socket, encodeSignal(LinkSignal.Claim));
    while (this.socket.writableCorked > 0) this.socket.uncork();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once("close", () => resolve());
      this.socket.end();
    });
  }
}
