import { createSocket, type Socket } from "node:dgram";
import { SkiffError } from "@skiff/common";
import { VXLAN_HEADER_BYTES, writeVxlanHeader } from "../wire/vxlan.js";
import type { OverlayTransport } from "./transport.js";

export interface VxlanBindOptions {
  /** Loopback here; a node's private interface in production. */
  host?: string;
  /** 0: the kernel picks one (tests); the map's node table then says which. */
  port?: number;
  /** Requested SO_RCVBUF; the kernel grants at most net.core.rmem_max. */
  receiveBufferBytes?: number;
}

/**
 * The overlay's endpoint on one node: VXLAN (RFC 7348) over a UDP socket. It only encapsulates and
 * hands datagrams on; the switch decides who may send and where frames go.
 */
export class VxlanTransport implements OverlayTransport {
  private handler: ((datagram: Buffer, host: string, port: number) => void) | undefined;
  private readonly headers = new Map<number, Buffer>();
  /** Datagrams the socket refused to send (e.g. a peer's buffer full); UDP loses them anyway. */
  sendErrors = 0;

  private constructor(private readonly socket: Socket) {
    socket.on("message", (msg, rinfo) => this.handler?.(msg, rinfo.address, rinfo.port));
    // Errors of sends are per datagram; the socket stays usable.
    socket.on("error", () => this.sendErrors++);
  }

  static async bind(options: VxlanBindOptions = {}): Promise<VxlanTransport> {
    const socket = createSocket({ type: "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", (err) =>
        reject(
          new SkiffError("NET_OVERLAY_BIND", `overlay cannot bind: ${err.message}`, undefined, {
            cause: err,
          }),
        ),
      );
      socket.bind(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
    });
    socket.removeAllListeners("error");
    // Bursts from many VMs land at once; the kernel caps this at net.core.rmem_max.
    socket.setRecvBufferSize(options.receiveBufferBytes ?? 4 * 1024 * 1024);
    return new VxlanTransport(socket);
  }

  get address(): { host: string; port: number } {
    const { address, port } = this.socket.address();
    return { host: address, port };
  }

  onDatagram(handler: (datagram: Buffer, host: string, port: number) => void): void {
    this.handler = handler;
  }

  send(host: string, port: number, vni: number, frame: Uint8Array): void {
    let header = this.headers.get(vni);
    if (!header) {
      header = Buffer.alloc(VXLAN_HEADER_BYTES);
      writeVxlanHeader(header, vni);
      this.headers.set(vni, header);
    }
    // Header and frame go out as one datagram without being copied together first.
    this.socket.send([header, frame], port, host, (err) => {
      if (err) this.sendErrors++;
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
