import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { freePort } from "./ports.js";
import { type Supervised, startProcess, waitUntil } from "./process.js";

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** The server's pid (its own process group). */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Sends one inline command and resolves with the raw reply (enough for PING readiness). */
function redisCommand(port: number, cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    sock.setTimeout(1000);
    sock.on("connect", () => sock.write(`${cmd}\r\n`));
    sock.on("data", (d) => {
      resolve(d.toString());
      sock.destroy();
    });
    sock.on("timeout", () => sock.destroy(new Error("timeout")));
    sock.on("error", reject);
  });
}

/**
 * A private redis-server on a free loopback port. With `dataDir` it persists (AOF) there, as the
 * local cluster wants; without, it keeps nothing on disk, as tests want.
 */
export async function startRedis(
  opts: { dataDir?: string; port?: number; logFile?: string } = {},
): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--protected-mode", "yes"];
  if (opts.dataDir) {
    mkdirSync(opts.dataDir, { recursive: true });
    args.push("--dir", opts.dataDir, "--appendonly", "yes");
  } else {
    args.push("--appendonly", "no");
  }
  const proc: Supervised = startProcess("redis-server", "redis-server", args, {
    ...(opts.logFile ? { logFile: opts.logFile } : {}),
  });
  try {
    await waitUntil(
      "redis to answer PING",
      async () => (await redisCommand(port, "PING")).startsWith("+PONG"),
      {
        proc,
      },
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: proc.child.pid ?? 0, stop: () => proc.stop() };
}
