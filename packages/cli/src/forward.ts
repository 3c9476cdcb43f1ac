import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { SkiffError } from "@skiff/common";

/** Where forwarded connections go: an address and port as seen from inside a network namespace. */
export interface ForwardTarget {
  readonly netns: string;
  readonly host: string;
  readonly port: number;
}

export interface Forward {
  /** The local port (the one asked for, or the one the OS chose for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:`localPort` and relays each connection into the namespace, where VPS
 * addresses are reachable (the region gateway's): one `socat` per connection, started with
 * `ip netns exec`, so this process never changes namespace itself. Needs root (CAP_SYS_ADMIN to
 * enter the namespace) and socat, as the gateway itself does.
 */
export async function startForward(localPort: number, to: ForwardTarget): Promise<Forward> {
  if (!existsSync(`/run/netns/${to.netns}`)) {
    throw new SkiffError(
      "NETNS_NOT_FOUND",
      `no network namespace '${to.netns}' on this host: run on the region gateway's host (\`npm start\` prints its name) or pass --netns`,
    );
  }
  const relays = new Set<ChildProcess>();
  const server: Server = createServer((sock) => {
    const relay = spawn("ip", ["netns", "exec", to.netns, "socat", "STDIO", `TCP:${to.host}:${to.port}`], {
      stdio: ["pipe", "pipe", "ignore"],
    });
    relays.add(relay);
    sock.pipe(relay.stdin!);
    relay.stdout!.pipe(sock);
    // Either side going away ends the other: a refused or reset connection closes the client's.
    relay.on("exit", () => {
      relays.delete(relay);
      sock.end();
    });
    relay.stdin!.on("error", () => sock.destroy());
    sock.on("error", () => relay.kill());
    sock.on("close", () => relay.kill());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new SkiffError("PORT_IN_USE", `127.0.0.1:${localPort} is in use: pick another local port`)
          : err,
      ),
    );
    server.listen(localPort, "127.0.0.1", resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : localPort,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of relays) r.kill();
        server.close(() => resolve());
      }),
  };
}
