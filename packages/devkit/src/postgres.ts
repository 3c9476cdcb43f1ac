import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { freePort } from "./ports.js";
import { startProcess, waitUntil } from "./process.js";

export interface PostgresServer {
  /** postgresql://postgres@127.0.0.1:PORT/DB */
  readonly url: string;
  readonly port: number;
  readonly database: string;
  /** The postmaster's pid (its backends share its process group). */
  readonly pid: number;
  stop(): Promise<void>;
}

export function findPostgresBin(): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0])
    throw new Error(
      "PostgreSQL server binaries not found under /usr/lib/postgresql (run npm test/start to bootstrap)",
    );
  return join(base, versions[0], "bin");
}

/** PostgreSQL refuses to run as root; as root we run it as the `postgres` (or `nobody`) user. */
function serverIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ["postgres", "nobody"]) {
    try {
      const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
      return { uid, gid };
    } catch {
      // try the next
    }
  }
  throw new Error("running as root, but neither a postgres nor a nobody user exists to run PostgreSQL");
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/**
 * A private PostgreSQL cluster in `dataDir` (initdb'd on first use) on a free loopback port,
 * trust auth for loopback only. Creates `database` if missing.
 */
export async function startPostgres(opts: {
  dataDir: string;
  port?: number;
  database?: string;
  /** Also append the server's output to this file. */
  logFile?: string;
}): Promise<PostgresServer> {
  const bin = findPostgresBin();
  const port = opts.port ?? (await freePort());
  const database = opts.database ?? "skiff";
  const who = serverIdentity();
  const asUser = who ? { uid: who.uid, gid: who.gid } : {};
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const sockDir = join(opts.dataDir, "..", `${opts.dataDir.split("/").pop()}-sock`);
  mkdirSync(sockDir, { recursive: true });
  if (who) {
    // The server user must be able to reach its data dir through every parent (mkdtemp makes 0700
    // dirs, so does a root home): search permission only, nothing becomes listable or readable.
    for (let dir = dirname(opts.dataDir); dir !== dirname(dir); dir = dirname(dir)) {
      const mode = statSync(dir).mode;
      if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o011);
    }
    chownSync(opts.dataDir, who.uid, who.gid);
    chownSync(sockDir, who.uid, who.gid);
  }
  if (!existsSync(join(opts.dataDir, "PG_VERSION"))) {
    execFileSync(
      join(bin, "initdb"),
      ["-D", opts.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
      {
        stdio: "pipe",
        ...asUser,
      },
    );
  }
  const proc = startProcess(
    "postgres",
    join(bin, "postgres"),
    [
      "-D",
      opts.dataDir,
      "-p",
      String(port),
      "-k",
      sockDir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
    ],
    // SIGINT is PostgreSQL's fast shutdown: SIGTERM would wait for every client to disconnect.
    { ...asUser, stopSignal: "SIGINT", ...(opts.logFile ? { logFile: opts.logFile } : {}) },
  );
  try {
    await waitUntil("postgres to accept connections", () => tcpOpen(port), { proc, timeoutMs: 30_000 });
    await waitUntil(
      "postgres to be ready",
      () => {
        execFileSync(join(bin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
        return true;
      },
      { proc, timeoutMs: 30_000 },
    );
    const psql = (sql: string, db = "postgres") =>
      execFileSync("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", db, "-tAc", sql], {
        encoding: "utf8",
      }).trim();
    if (psql(`SELECT 1 FROM pg_database WHERE datname='${database}'`) !== "1")
      psql(`CREATE DATABASE "${database}"`);
  } catch (err) {
    // A server that never became usable is not left running behind the error.
    await proc.stop();
    throw err;
  }
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/${database}`,
    port,
    database,
    pid: proc.child.pid ?? 0,
    stop: () => proc.stop("SIGINT", 15_000),
  };
}
