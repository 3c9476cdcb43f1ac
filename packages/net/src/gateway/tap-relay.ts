import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { setTimeout as sleep } from "node:timers/promises";
import { type Logger, SkiffError } from "@skiff/common";
import { MAX_FRAME_BYTES } from "../wire/ethernet.js";
import { inNs, ip, linkExists, type Netns } from "./netns.js";

export interface TapRelayOptions {
  /** Namespace the TAP moves into (null: it stays in this process's). */
  netns: Netns;
  /** Its name inside the namespace. */
  name: string;
  mac: string;
  /** e.g. "10.1.0.1/24": the address and, through its prefix, the connected route. */
  address: string;
  mtu: number;
  /** Frames the namespace's kernel sent out of the TAP. */
  onFrame: (frame: Buffer) => void;
  logger: Logger;
}

const LOOPBACK = "127.0.0.1";
const START_ATTEMPTS = 3;
const START_POLLS = 200;

/**
 * One TAP interface in the gateway's namespace, relayed to this process over loopback UDP. Node
 * cannot open a TAP without a native addon, so socat opens it in the host's namespace and relays
 * it, one datagram per frame; the TAP is then moved into the gateway's namespace, where it keeps
 * its descriptor. The relay socket only takes datagrams from socat's own port.
 */
export class TapRelay {
  private constructor(
    private readonly socket: Socket,
    private readonly child: ChildProcess,
    private readonly socatPort: number,
    readonly pid: number,
  ) {}

  static async start(options: TapRelayOptions): Promise<TapRelay> {
    let lastError: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      try {
        return await TapRelay.tryStart(options);
      } catch (err) {
        // Most likely the port picked for socat was taken in between: pick again.
        lastError = err;
        options.logger.warn({ err, attempt }, "TAP relay did not start, retrying");
      }
    }
    throw lastError;
  }

  private static async tryStart(options: TapRelayOptions): Promise<TapRelay> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, LOOPBACK, resolve));
    const socatPort = await freeUdpPort();
    // A unique name in the host's namespace, where the TAP is born; renamed once inside.
    const hostName = `sktap${randomBytes(4).toString("hex")}`;
    // UDP first: if socat cannot bind, it exits before creating the TAP.
    const child = spawn(
      "socat",
      [
        // One read is one frame: socat's default 8 KiB would cut a jumbo frame.
        "-b",
        `${MAX_FRAME_BYTES}`,
        `UDP-DATAGRAM:${LOOPBACK}:${socket.address().port},bind=${LOOPBACK}:${socatPort}`,
        `TUN,tun-type=tap,tun-name=${hostName},iff-no-pi`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk) => (stderr += chunk));
    let exited = false;
    child.once("exit", () => (exited = true));
    const relay = new TapRelay(socket, child, socatPort, child.pid ?? -1);
    try {
      await waitForLink(hostName, () => exited);
      if (exited) throw new SkiffError("NET_TAP_RELAY", `socat exited: ${stderr.trim()}`);
      const ns = options.netns;
      if (ns !== null) await ip("link", "set", "dev", hostName, "netns", ns);
      await ip(...inNs(ns, "link", "set", "dev", hostName, "name", options.name));
      await ip(
        ...inNs(ns, "link", "set", "dev", options.name, "address", options.mac, "mtu", `${options.mtu}`),
      );
      await ip(...inNs(ns, "addr", "add", options.address, "dev", options.name));
      await ip(...inNs(ns, "link", "set", "dev", options.name, "up"));
    } catch (err) {
      await relay.stop();
      throw err;
    }
    socket.on("message", (msg, rinfo) => {
      if (rinfo.address === LOOPBACK && rinfo.port === socatPort) options.onFrame(msg);
    });
    child.once("exit", (code) => {
      if (!relay.stopping) options.logger.error({ code, stderr, name: options.name }, "TAP relay exited");
    });
    return relay;
  }

  private stopping = false;

  /** Hands a frame to the namespace's kernel. */
  send(frame: Uint8Array): boolean {
    if (this.stopping) return false;
    this.socket.send(frame, this.socatPort, LOOPBACK);
    return true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.kill("SIGTERM");
      await exited;
    }
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

/** A UDP port free right now on loopback (the kernel's pick), for socat to bind. */
async function freeUdpPort(): Promise<number> {
  const probe = createSocket("udp4");
  await new Promise<void>((resolve) => probe.bind(0, LOOPBACK, resolve));
  const { port } = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function waitForLink(name: string, gaveUp: () => boolean): Promise<void> {
  for (let i = 0; i < START_POLLS && !gaveUp(); i++) {
    if (await linkExists(name)) return;
    await sleep(25);
  }
  if (!gaveUp()) throw new SkiffError("NET_TAP_RELAY", `TAP ${name} did not appear`);
}
