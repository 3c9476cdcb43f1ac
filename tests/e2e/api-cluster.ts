/**
 * A real Skiff cluster for end-to-end tests, started the way `npm start` starts one: throwaway
 * PostgreSQL and Redis, `migrate.js --seed`, the API process (with its workers) and N node-agent
 * processes that register themselves. Talks to it over HTTP like any client.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { createLogger } from "@skiff/common";
import {
  builtForTests,
  freePort,
  LOCAL_NETWORK_MTU,
  makeTempDir,
  type Supervised,
  startProcess,
  startTestServices,
  testRegion,
  waitUntil,
} from "@skiff/devkit";
import { httpsClientOptions, loadTls, nodeIdentity, tlsFilesIn } from "@skiff/pki";
import WebSocket from "ws";
// Test helpers are not part of the agent's build: imported from its source.
import { echoFirmware } from "../../apps/node-agent/src/test-support/echo-firmware.js";

export const root = join(import.meta.dirname, "..", "..");
const API_MAIN = join(root, "apps/api/dist/main.js");
const MIGRATE = join(root, "apps/api/dist/db/migrate.js");
const AGENT_MAIN = join(root, "apps/node-agent/dist/main.js");

// Under CI a missing build fails the suites instead of skipping them (see builtForTests).
export const built = builtForTests(root, [API_MAIN, MIGRATE, AGENT_MAIN]);

export interface Agent {
  readonly name: string;
  readonly dataDir: string;
  proc: Supervised;
  readonly port: number;
}

export interface Cluster {
  readonly url: string;
  /** The directory every agent is given as SKIFF_AGENT_SHARED_DIR. */
  readonly sharedDir: string;
  readonly operatorToken: string;
  readonly agents: Agent[];
  readonly dir: string;
  api: Supervised;
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON bodies freely
  call(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  /** POST on the API's agent listener as an agent: node `node`'s certificate and the agent token. */
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect JSON bodies freely
  agentCall(node: string, path: string, body: unknown): Promise<{ status: number; body: any }>;
  startApi(): Promise<void>;
  startAgent(a: Agent): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly agents?: number;
  /** Extra environment for the API (e.g. faster node-health timing). */
  readonly apiEnv?: Record<string, string>;
  /** Extra environment for every agent (e.g. SKIFF_AGENT_MEMORY: the capacity it offers). */
  readonly agentEnv?: Record<string, string>;
  /** Extra environment for one agent, by name (e.g. SKIFF_AGENT_STORAGE: local for one node). */
  readonly agentEnvFor?: (name: string) => Record<string, string>;
}

function killVmms(dataDir: string): void {
  const vms = join(dataDir, "vms");
  if (!existsSync(vms)) return;
  for (const id of readdirSync(vms)) {
    try {
      const pid = Number.parseInt(readFileSync(join(vms, id, "vmm.pid"), "utf8"), 10);
      if (pid > 0) process.kill(pid, "SIGKILL");
    } catch {
      // no pid file, or already gone
    }
  }
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const tmp = makeTempDir("skiff-e2e-api-");
  const services = await startTestServices();
  const operatorToken = `skiff_op_e2e_${Date.now()}`;
  const agentToken = "e2e-agent-secret";
  const apiPort = await freePort();
  const url = `http://127.0.0.1:${apiPort}`;
  // Agents register on the API's own mutual-TLS listener, with their node certificates.
  const agentPort = await freePort();
  const region = await testRegion();
  const common = {
    ...process.env,
    SKIFF_TLS_DIR: region.dir,
    LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? "warn",
    DATABASE_URL: services.postgres.url,
    REDIS_URL: services.redis.url,
    SKIFF_API_URL: `https://127.0.0.1:${agentPort}`,
    SKIFF_AGENT_TOKEN: agentToken,
    SKIFF_OPERATOR_TOKEN: operatorToken,
    SKIFF_REPO_ROOT: root,
  };
  const m = spawnSync(process.execPath, [MIGRATE, "--seed"], { env: common, encoding: "utf8" });
  if (m.status !== 0) throw new Error(`migrate failed: ${m.stdout}${m.stderr}`);

  const agents: Agent[] = [];
  for (let i = 1; i <= (opts.agents ?? 3); i++) {
    agents.push({
      name: `node-${i}`,
      dataDir: join(tmp.path, `agent-${i}`),
      port: await freePort(),
      proc: undefined as never,
    });
  }

  const call: Cluster["call"] = async (method, path, body, token = operatorToken) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  };

  const agentCall: Cluster["agentCall"] = async (node, path, body) => {
    await region.node(node);
    const tls = loadTls(tlsFilesIn(region.dir, nodeIdentity(node)), nodeIdentity(node));
    return new Promise((resolve, reject) => {
      const req = request(
        `https://127.0.0.1:${agentPort}${path}`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${agentToken}`, "content-type": "application/json" },
          ...httpsClientOptions(tls, "api", createLogger("e2e")),
        },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
          );
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });
  };

  const cluster: Cluster = {
    url,
    sharedDir: join(tmp.path, "shared"),
    operatorToken,
    agents,
    dir: tmp.path,
    api: undefined as never,
    call,
    agentCall,
    async startApi() {
      cluster.api = startProcess("api", process.execPath, [API_MAIN], {
        env: {
          ...common,
          SKIFF_API_PORT: String(apiPort),
          SKIFF_API_AGENT_PORT: String(agentPort),
          SKIFF_API_HOST: "127.0.0.1",
          SKIFF_HEARTBEAT_INTERVAL_MS: "500",
          // A killed API's jobs are taken up again in 8-12 s, and a VPS that finds no room gives up
          // after about 6 s: the same paths as production's 20-30 s and 31 s, sooner.
          SKIFF_JOB_LOCK_MS: "8000",
          SKIFF_JOB_BACKOFF_MS: "200",
          SKIFF_NETWORK_MTU: String(LOCAL_NETWORK_MTU),
          ...opts.apiEnv,
        },
      });
      await waitUntil(
        "API ready",
        async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200,
        { proc: cluster.api, timeoutMs: 30_000 },
      );
    },
    async startAgent(a) {
      await region.node(a.name);
      a.proc = startProcess(a.name, process.execPath, [AGENT_MAIN], {
        env: {
          ...common,
          SKIFF_AGENT_NAME: a.name,
          SKIFF_AGENT_GRPC_PORT: String(a.port),
          SKIFF_AGENT_DATA_DIR: a.dataDir,
          SKIFF_AGENT_SHARED_DIR: join(tmp.path, "shared"),
          HOST: "127.0.0.1",
          ...opts.agentEnv,
          ...opts.agentEnvFor?.(a.name),
        },
      });
    },
    async stop() {
      for (const a of agents) await a.proc?.stop().catch(() => undefined);
      for (const a of agents) killVmms(a.dataDir);
      await cluster.api?.stop().catch(() => undefined);
      await services.stop();
      tmp.remove();
    },
  };
  try {
    await cluster.startApi();
    for (const a of agents) await cluster.startAgent(a);
    await waitUntil(
      `${agents.length} nodes registered`,
      async () => {
        const r = await call("GET", "/v1/nodes?status=ready");
        return r.status === 200 && r.body.items.length === agents.length;
      },
      { timeoutMs: 30_000 },
    );
  } catch (err) {
    const logs = [cluster.api, ...agents.map((a) => a.proc)]
      .filter(Boolean)
      .map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`)
      .join("\n");
    await cluster.stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
  return cluster;
}

/**
 * The catalogue entries firmware-guest tests use: the image `echo` (the agent's echo firmware)
 * and the plan `fw` (1 MiB, a tenth of a CPU). Throws unless both are created.
 */
export async function addEchoCatalog(c: Cluster): Promise<void> {
  const kernelPath = await writeEchoFirmware(c.dir);
  const image = await c.call("POST", "/v1/images", {
    name: "echo",
    bootMode: "firmware",
    kernelPath,
    arch: "riscv32",
  });
  if (image.status !== 201) throw new Error(`image echo: ${image.status} ${JSON.stringify(image.body)}`);
  const plan = await c.call("POST", "/v1/plans", {
    name: "fw",
    vcpus: 1,
    memoryBytes: 1 << 20,
    diskBytes: 0,
    cpuShare: 10,
  });
  if (plan.status !== 201) throw new Error(`plan fw: ${plan.status} ${JSON.stringify(plan.body)}`);
}

/** The node agent's echo firmware (stays running, echoes console input), as an image file. */
export async function writeEchoFirmware(dir: string): Promise<string> {
  const path = join(dir, "echo-firmware.elf");
  writeFileSync(path, echoFirmware());
  return path;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  let value: T | undefined | false;
  await waitUntil(
    what,
    async () => {
      value = await fn();
      return value !== undefined && value !== false;
    },
    { timeoutMs },
  );
  return value as T;
}

/** A VPS's serial console over the API's WebSocket: what it printed so far, and typing. */
export interface ApiConsole {
  text(): string;
  type(s: string): void;
  close(): void;
}

export async function openApiConsole(c: Cluster, id: string, token: string): Promise<ApiConsole> {
  const ws = new WebSocket(`${c.url.replace("http", "ws")}/v1/vps/${id}/console`, {
    headers: { authorization: `Bearer ${token}` },
  });
  let text = "";
  ws.on("message", (data, isBinary) => {
    if (isBinary) text += Buffer.from(data as Buffer).toString("utf8");
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return {
    text: () => text,
    type: (s) => ws.send(Buffer.from(s), { binary: true }),
    close: () => ws.close(),
  };
}

/**
 * Waits until every node's agent reports running exactly the VMs the database places on it: no
 * second copy anywhere, none lost.
 */
export async function agentsAgreeWithDatabase(c: Cluster, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    "agents and database agree",
    async () => {
      const nodes = (await c.call("GET", "/v1/nodes")).body.items as {
        usage: { vmCount: number };
        reserved: { vpsCount: number };
      }[];
      return nodes.every((n) => n.usage.vmCount === n.reserved.vpsCount);
    },
    timeoutMs,
  );
}
