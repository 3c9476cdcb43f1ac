/**
 * `npm start` as a person uses it: the built local-cluster entry point in a temp state dir, the
 * URLs and token it prints, the API with three agents, a VPS, then Ctrl-C (SIGINT to the whole
 * foreground process group, as a terminal sends it). Everything it started must be gone, and the
 * next start must find the same data.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { totalmem } from "node:os";
import { join } from "node:path";
import { builtForTests, makeTempDir, processAlive, processArgv, waitUntil } from "@skiff/devkit";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..", "..");
const MAIN = join(root, "packages/devkit/dist/cluster/main.js");
const built = builtForTests(root, [
  "packages/devkit/dist/cluster/main.js",
  "apps/api/dist/main.js",
  "apps/api/dist/db/migrate.js",
  "apps/node-agent/dist/main.js",
]);

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API
type Json = any;

interface Launch {
  readonly proc: ChildProcess;
  readonly exit: Promise<number | null>;
  output(): string;
}

/** Starts the launcher as `npm start` does after bootstrap, leader of its own process group. */
/** The gateway's namespace: never a developer's own `skiff` cluster's. */
const NETNS = `skiff-lc-${process.pid}`;

function launch(env: Record<string, string>): Launch {
  const { SKIFF_API_PORT: _p, SKIFF_OPERATOR_TOKEN: _t, SKIFF_LOCAL_AGENT_MEMORY: _m, ...base } = process.env;
  const proc = spawn(process.execPath, [MAIN], {
    cwd: root,
    env: { ...base, LOG_LEVEL: "warn", SKIFF_NETNS: NETNS, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  proc.stdout!.on("data", (b: Buffer) => {
    out += b.toString();
  });
  proc.stderr!.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const exit = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return { proc, exit, output: () => out };
}

/** What the launcher printed once it is up: the API's URL and the operator token. */
async function whenUp(l: Launch): Promise<{ url: string; token: string }> {
  const up = waitUntil("the cluster to say it is up", () => l.output().includes("Press Ctrl-C to stop."), {
    timeoutMs: 90_000,
    intervalMs: 100,
  });
  const died = l.exit.then((code) => {
    throw new Error(`the launcher exited with ${code} before it was up`);
  });
  died.catch(() => undefined);
  await Promise.race([up, died]).catch((err: Error) => {
    throw new Error(`${err.message}\n${l.output()}`);
  });
  const url = /^\s+API\s+(http:\/\/127\.0\.0\.1:\d+)/m.exec(l.output())?.[1];
  const token = /operator token: (\S+)/.exec(l.output())?.[1];
  if (!url || !token) throw new Error(`no URL or token in:\n${l.output()}`);
  return { url, token };
}

async function call(url: string, token: string, method: string, path: string, body?: unknown): Promise<Json> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json() };
}

/** Every process below `pid` right now (detached children are still its children). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/** Live processes whose command line names `dir` (VMMs, PostgreSQL, Redis of this cluster). */
function processesNaming(dir: string): string[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e) && processAlive(Number(e)))
    .map((e) => ({ pid: e, argv: processArgv(Number(e)).join(" ") }))
    .filter((p) => p.argv.includes(dir))
    .map((p) => `${p.pid}: ${p.argv}`);
}

/** Ctrl-C at the terminal: SIGINT to the foreground process group. */
async function ctrlC(l: Launch): Promise<number | null> {
  process.kill(-l.proc.pid!, "SIGINT");
  const code = await Promise.race([l.exit, new Promise<"hung">((r) => setTimeout(() => r("hung"), 40_000))]);
  if (code === "hung") throw new Error(`still running 40 s after Ctrl-C:\n${l.output()}`);
  return code;
}

describe.skipIf(!built)("npm start (the local cluster)", () => {
  const tmp = makeTempDir("skiff-local-cluster-");
  const stateDir = join(tmp.path, "state");
  const launches: Launch[] = [];
  afterAll(() => {
    for (const l of launches) {
      try {
        if (l.proc.exitCode === null) process.kill(-l.proc.pid!, "SIGKILL");
      } catch {
        // gone
      }
    }
    tmp.remove();
  });

  it("starts, serves, stops everything on Ctrl-C, and finds its data on the next start", async () => {
    const first = launch({ SKIFF_STATE_DIR: stateDir });
    launches.push(first);
    const { url, token } = await whenUp(first);

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const nodes = (await call(url, token, "GET", "/v1/nodes?status=ready")).body.items as Json[];
    expect(nodes.map((n) => n.name).sort()).toEqual(["node-1", "node-2", "node-3"]);
    // Each offers a share of the host, not all of it: together no more than the host has.
    const offered = nodes.reduce((sum, n) => sum + Number(n.capacity.memoryBytes), 0);
    expect(offered).toBeLessThanOrEqual(totalmem());

    const created = await call(url, token, "POST", "/v1/vps", { name: "kept", plan: "nano" });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const id = created.body.id as string;
    await waitUntil(
      "the VPS to run",
      async () => {
        const v = (await call(url, token, "GET", `/v1/vps/${id}`)).body;
        if (v.state === "error") throw new Error(`VPS in error: ${v.stateReason}`);
        return v.state === "running" && v.action === null;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    // Everything it started: Redis, PostgreSQL, the API, the agents, the VMM, the watchdog.
    const children = descendants(first.proc.pid!);
    const vmms = children.filter((p) => processArgv(p).some((a) => a.endsWith("vmm/main.js")));
    expect(vmms.length, "one VMM runs the VPS").toBe(1);
    expect(children.length).toBeGreaterThanOrEqual(7);

    expect(await ctrlC(first)).toBe(0);
    // In order, each part still up when its turn came (Ctrl-C reached none of them directly).
    expect(first.output()).toMatch(
      /stopping api[\s\S]*stopping VM processes[\s\S]*stopping node agents[\s\S]*stopping postgres[\s\S]*stopping redis/,
    );
    expect(first.output()).not.toMatch(/exited unexpectedly|had already exited/);
    // The banner says where VPS addresses are reachable from; that namespace goes at the stop.
    expect(first.output()).toContain(`ip netns exec ${NETNS} curl http://<vps ipv4>/`);
    expect(execFileSync("ip", ["netns", "list"], { encoding: "utf8" })).not.toMatch(
      new RegExp(`^${NETNS}\\b`, "m"),
    );
    expect(children.filter(processAlive), "processes left behind").toEqual([]);
    expect(processesNaming(stateDir)).toEqual([]);

    // The next start: same URL, same token, the VPS still there, stopped (its VM was stopped).
    const second = launch({ SKIFF_STATE_DIR: stateDir });
    launches.push(second);
    const again = await whenUp(second);
    expect(again).toEqual({ url, token });
    const v = await waitUntil(
      "the VPS to show as stopped",
      async () => (await call(url, token, "GET", `/v1/vps/${id}`)).body.state === "stopped",
      { timeoutMs: 30_000, intervalMs: 250 },
    ).then(async () => (await call(url, token, "GET", `/v1/vps/${id}`)).body);
    expect(v.name).toBe("kept");
    const secondChildren = descendants(second.proc.pid!);
    expect(await ctrlC(second)).toBe(0);
    expect(secondChildren.filter(processAlive)).toEqual([]);
    expect(processesNaming(stateDir)).toEqual([]);
  }, 180_000);

  it("refuses a busy SKIFF_API_PORT with a clear message instead of moving elsewhere", async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", () => r()));
    const port = (busy.address() as { port: number }).port;
    try {
      const l = launch({ SKIFF_STATE_DIR: join(tmp.path, "busy"), SKIFF_API_PORT: String(port) });
      launches.push(l);
      expect(await l.exit).toBe(1);
      expect(l.output()).toContain(`SKIFF_API_PORT=${port}: that port is already in use`);
      expect(l.output()).not.toContain("starting Redis");
    } finally {
      busy.close();
    }
  });
});
