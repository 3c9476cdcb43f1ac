import { rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { createLogger, type Logger, SkiffError } from "@skiff/common";
import type { NodeSwitch, SwitchPort } from "../switch/node-switch.js";
import { encodeFrame, encodeSignal, FrameReader, LinkSignal, writeCorked } from "./framing.js";

/** Bytes queued towards a VMM beyond which frames are dropped (counted queueFull), as a full NIC ring would. */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * The switch's end of one VM NIC's link: a Unix stream socket the VMM connects to. The agent gives
 * each VMM its own socket path, so the path is the VMM's identity; nothing it sends can claim
 * another port. A VMM that reconnects (restart, migration's target) replaces the old connection.
 */
export class PortLinkServer {
  private connection: Socket | undefined;
  private readonly port: SwitchPort;

  private constructor(
    private readonly server: Server,
    private readonly path: string,
    sw: NodeSwitch,
    vpsId: string,
    private readonly log: Logger,
  ) {
    this.port = sw.attach(vpsId, (frame) => this.toVmm(frame));
    server.on("connection", (socket) => this.accept(socket));
  }

  static async listen(path: string, sw: NodeSwitch, vpsId: string, logger?: Logger): Promise<PortLinkServer> {
    rmSync(path, { force: true }); // a socket file left by a crashed agent
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) =>
        reject(
          new SkiffError("NET_LINK_LISTEN", `cannot listen on ${path}: ${err.message}`, undefined, {
            cause: err,
          }),
        ),
      );
      server.listen(path, () => resolve());
    });
    return new PortLinkServer(server, path, sw, vpsId, logger ?? createLogger("net-port-link"));
  }

  get counters() {
    return this.port.counters;
  }

  private accept(socket: Socket): void {
    this.connection?.destroy();
    this.connection = socket;
    const reader = new FrameReader();
    socket.on("data", (chunk) => {
      try {
        reader.push(
          chunk,
          (frame) => this.port.input(frame),
          (signal) => this.signal(socket, signal),
        );
      } catch (err) {
        this.log.warn({ err, path: this.path }, "port link closed: bad framing");
        socket.destroy();
      }
    });
    socket.on("close", () => {
      if (this.connection === socket) this.connection = undefined;
    });
    socket.on("error", () => {}); // a VMM going away; "close" follows
  }

  private signal(socket: Socket, signal: LinkSignal): void {
    if (signal === LinkSignal.Hold) {
      this.port.hold();
      // Behind every frame already written: once the VMM reads this, nothing is on its way to it.
      writeCorked(socket, encodeSignal(LinkSignal.Held));
    } else if (signal === LinkSignal.Resume) {
      this.port.resume();
    } else if (signal === LinkSignal.Claim) {
      this.port.claim();
    } else {
      throw new SkiffError("NET_LINK_BAD_FRAME", `signal ${signal} from a VMM`);
    }
  }

  private toVmm(frame: Uint8Array): boolean {
    const socket = this.connection;
    if (!socket || socket.writableLength > MAX_QUEUED_BYTES) return false;
    writeCorked(socket, encodeFrame(frame));
    return true;
  }

  async close(): Promise<void> {
    this.port.detach();
    this.connection?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
