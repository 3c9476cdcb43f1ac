import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { errorMessage } from "@skiff/common";
import { API_IDENTITY, nodeIdentity } from "@skiff/pki";
import { LOCAL_NETWORK_MTU } from "../local-network.js";
import { regionCertificates } from "../pki.js";
import { startPostgres } from "../postgres.js";
import { processAlive, processArgv, type Supervised, startProcess, waitUntil } from "../process.js";
import { startRedis } from "../redis.js";
import { type RegionGateway, startRegionGateway } from "./gateway.js";
import type { ClusterPlan } from "./plan.js";

const say = (msg: string) => console.log(`[cluster] ${msg}`);

/** A part of the running cluster, stopped by `stop()`. */
interface Part {
  readonly name: string;
  /** False once it is gone: a part that went before its turn broke the order (say so). */
  alive?(): boolean;
  stop(): Promise<void>;
}

/**
 * The order parts stop in on Ctrl-C. The API first: no worker starts new work (a VM, a
 * migration) while the rest goes down. Then the VMs, while their agents still run: each agent
 * sees its VMMs end as stopped and records it, and reports them so at its next start, so their
 * VPSes show as `stopped` (VMM processes outlive an agent by design, but a local cluster leaves
 * nothing running). Then the agents, the gateway (its namespace goes with it), and the stores last, as everything above writes to them.
 */
const STOP_ORDER = ["api", "VM processes", "agents", "gateway", "postgres", "redis"] as const;
type Stage = (typeof STOP_ORDER)[number];

/** Resolves on the first SIGINT/SIGTERM; later ones are told to wait (default handling would kill us mid-stop). */
function stopSignal(): Promise<string> {
  let first: ((s: string) => void) | undefined;
  const got = new Promise<string>((resolve) => {
    first = resolve;
  });
  let seen = 0;
  const on = (signal: string) => {
    if (seen++ === 0) first?.(signal);
    else say("still stopping, in order; data is kept (kill -9 would leave the stores to recover)");
  };
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  return got;
}

/** A Node service of the cluster: its output in logs/<name>.log, its own process group. */
function startNodeService(
  plan: ClusterPlan,
  name: string,
  script: string,
  env: Record<string, string>,
): Supervised {
  const logDir = join(plan.stateDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const proc = startProcess(name, process.execPath, [join(plan.repoRoot, script)], {
    cwd: plan.repoRoot,
    env: { ...process.env, ...env },
    logFile,
  });
  let stopping = false;
  proc.child.on("exit", (code, signal) => {
    if (!stopping) say(`${name} exited unexpectedly (${signal ?? code}); see ${logFile}`);
  });
  const stop = proc.stop.bind(proc);
  return Object.assign(proc, {
    stop: (signal?: NodeJS.Signals, timeoutMs?: number) => {
      stopping = true;
      return stop(signal, timeoutMs);
    },
  });
}

export async function runCluster(plan: ClusterPlan): Promise<number> {
  const stopRequested = stopSignal();
  const parts = new Map<Stage, Part>();
  const stopAll = async () => {
    for (const stage of STOP_ORDER) {
      const part = parts.get(stage);
      if (!part) continue;
      if (part.alive && !part.alive()) {
        say(`${part.name} had already exited; see ${join(logDir, `${part.name}.log`)}`);
        continue;
      }
      say(`stopping ${part.name}`);
      await part.stop().catch((err: unknown) => say(`stopping ${part.name}: ${errorMessage(err)}`));
    }
  };
  // A Ctrl-C during the start stops what is up so far instead of going on.
  const interrupted = stopRequested.then(() => {
    throw new Error("interrupted while starting");
  });
  interrupted.catch(() => undefined);
  const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupted]);
  const logDir = join(plan.stateDir, "logs");
  mkdirSync(logDir, { recursive: true });
  try {
    say("starting Redis");
    const redis = await step(
      startRedis({
        dataDir: join(plan.stateDir, "redis"),
        port: plan.redisPort,
        logFile: join(logDir, "redis.log"),
      }),
    );
    parts.set("redis", { name: "redis", alive: () => processAlive(redis.pid), stop: redis.stop });
    say("starting PostgreSQL");
    const pg = await step(
      startPostgres({
        dataDir: join(plan.stateDir, "postgres"),
        port: plan.postgresPort,
        logFile: join(logDir, "postgres.log"),
      }),
    );
    parts.set("postgres", { name: "postgres", alive: () => processAlive(pg.pid), stop: pg.stop });

    // Mutual TLS as in production: the region CA on the first start, certificates kept while valid.
    const pkiDir = join(plan.stateDir, "pki");
    const { caCreated } = await step(
      regionCertificates(pkiDir, [API_IDENTITY, ...plan.agents.map((a) => nodeIdentity(a.name))]),
    );
    if (caCreated) say(`created the region CA in ${pkiDir}`);
    const apiUrl = `http://127.0.0.1:${plan.apiPort}`;
    const common = {
      SKIFF_TLS_DIR: pkiDir,
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      // The agents' side of the API: its mutual-TLS listener, where they show their node certificates.
      SKIFF_API_URL: `https://127.0.0.1:${plan.apiAgentPort}`,
      SKIFF_AGENT_TOKEN: plan.agentToken,
      SKIFF_OPERATOR_TOKEN: plan.operatorToken,
      SKIFF_REPO_ROOT: plan.repoRoot,
    };
    if (plan.has.migrations) {
      say("applying database migrations and seed data");
      const r = spawnSync(process.execPath, [join(plan.repoRoot, "apps/api/dist/db/migrate.js"), "--seed"], {
        env: { ...process.env, ...common },
        stdio: "inherit",
      });
      if (r.status !== 0) throw new Error("database migrations failed");
    }
    // Before the API: the API lists the gateway's overlay endpoint in the network map.
    say(`starting the region's gateway in network namespace ${plan.netns}`);
    const started = await step(startRegionGateway(plan.repoRoot, plan.netns, say));
    let gateway: RegionGateway | undefined;
    if ("unavailable" in started) {
      say(
        `no gateway (${started.unavailable.split("\n")[0]}): VPS networks are unreachable from the host; the rest works`,
      );
    } else {
      gateway = started;
      parts.set("gateway", { name: "gateway", stop: () => started.stop() });
    }
    if (plan.has.api) {
      say("starting the API and its workers");
      const api = startNodeService(plan, "api", "apps/api/dist/main.js", {
        ...common,
        SKIFF_API_PORT: String(plan.apiPort),
        SKIFF_API_AGENT_PORT: String(plan.apiAgentPort),
        SKIFF_API_HOST: "127.0.0.1",
        SKIFF_GATEWAY_OVERLAY: gateway?.overlay ?? "",
        SKIFF_NETWORK_MTU: String(LOCAL_NETWORK_MTU),
      });
      parts.set("api", api);
      await step(
        waitUntil("the API to be ready", async () => (await fetch(`${apiUrl}/readyz`)).ok, {
          proc: api,
          timeoutMs: 60_000,
          intervalMs: 200,
        }),
      ).catch((err: unknown) => {
        throw new Error(`${errorMessage(err).split("\n")[0]}; see ${join(plan.stateDir, "logs", "api.log")}`);
      });
      gateway?.follow(apiUrl, plan.operatorToken);
    }
    if (plan.has.agent) {
      const agents: Supervised[] = [];
      // Stopped together: each agent only lets go of its VMMs, it has nothing to hand to the others.
      parts.set("agents", {
        name: "node agents",
        stop: async () => {
          await Promise.all(agents.map((a) => a.stop()));
        },
      });
      for (const a of plan.agents) {
        say(`starting node agent ${a.name}`);
        agents.push(
          startNodeService(plan, a.name, "apps/node-agent/dist/main.js", {
            ...common,
            HOST: "127.0.0.1",
            SKIFF_AGENT_NAME: a.name,
            SKIFF_AGENT_GRPC_PORT: String(a.grpcPort),
            SKIFF_AGENT_DATA_DIR: a.dataDir,
            SKIFF_AGENT_SHARED_DIR: join(plan.stateDir, "shared-storage"),
            SKIFF_AGENT_MEMORY: String(a.memoryBytes),
          }),
        );
      }
      parts.set("VM processes", {
        name: "VM processes",
        stop: () => stopVmms(plan.agents.map((a) => a.dataDir)),
      });
      if (plan.has.api) await step(nodesRegistered(apiUrl, plan));
    }

    const MiB = 2 ** 20;
    const lines = [
      "",
      "Skiff local cluster is up.",
      `  Redis        ${redis.url}`,
      `  PostgreSQL   ${pg.url}`,
      plan.has.api
        ? `  API          ${apiUrl}   (docs: ${apiUrl}/docs)`
        : "  API          (not built in this checkout yet)",
      plan.has.agent
        ? `  node agents  ${plan.agents.map((a) => `${a.name} 127.0.0.1:${a.grpcPort}`).join(", ")} (${Math.round(plan.agents[0]!.memoryBytes / MiB)} MiB each)`
        : "  node agents  (not built in this checkout yet)",
      gateway
        ? `  VPS networks from namespace ${gateway.netns}: ip netns exec ${gateway.netns} curl http://<vps ipv4>/   (addresses: skiff vps list)\n` +
          `               or on 127.0.0.1: skiff vps forward <vps> 8080:80${gateway.netns === "skiff" ? "" : ` --netns ${gateway.netns}`}`
        : "  VPS networks: unreachable from the host (no gateway namespace)",
      `  operator token: ${plan.operatorToken}`,
      `  data and logs: ${plan.stateDir}`,
      "Press Ctrl-C to stop.",
      "",
    ];
    console.log(lines.join("\n"));

    const signal = await stopRequested;
    say(`${signal}: shutting down`);
    await stopAll();
    say("stopped; data kept for the next start");
    return 0;
  } catch (err) {
    console.error(`[cluster] ERROR: ${errorMessage(err)}`);
    await stopAll();
    return 1;
  }
}

/** Waits (a while) for every agent to show up ready; one that does not is named, not fatal. */
async function nodesRegistered(apiUrl: string, plan: ClusterPlan): Promise<void> {
  let names: string[] = [];
  try {
    await waitUntil(
      "the node agents to register",
      async () => {
        const r = await fetch(`${apiUrl}/v1/nodes?status=ready&limit=100`, {
          headers: { authorization: `Bearer ${plan.operatorToken}` },
        });
        if (!r.ok) return false;
        names = ((await r.json()) as { items: { name: string }[] }).items.map((n) => n.name);
        return plan.agents.every((a) => names.includes(a.name));
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  } catch {
    const missing = plan.agents.filter((a) => !names.includes(a.name)).map((a) => a.name);
    say(`not registered yet: ${missing.join(", ")}; see ${join(plan.stateDir, "logs")}`);
  }
}

/**
 * SIGTERM to every VMM found under the agents' data dirs (vms/<id>/vmm.pid), SIGKILL after 10 s.
 * A pid file can outlive its VMM and the pid be reused: only a process that is that VM's VMM
 * (its argv names the VM's dir) is signalled.
 */
async function stopVmms(agentDirs: readonly string[]): Promise<void> {
  const pids: number[] = [];
  for (const dir of agentDirs) {
    const vms = join(dir, "vms");
    if (!existsSync(vms)) continue;
    for (const id of readdirSync(vms)) {
      const pidFile = join(vms, id, "vmm.pid");
      if (!existsSync(pidFile)) continue;
      const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
      const argv = processAlive(pid) ? processArgv(pid) : [];
      if (argv.some((a) => a.endsWith("vmm/main.js")) && argv.includes(join(vms, id))) pids.push(pid);
    }
  }
  const signal = (pid: number, s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // gone meanwhile
    }
  };
  for (const pid of pids) signal(pid, "SIGTERM");
  for (let waited = 0; waited < 10_000 && pids.some(processAlive); waited += 100) await sleep(100);
  for (const pid of pids.filter(processAlive)) signal(pid, "SIGKILL");
  // Let the agents take note of the exits (they persist each VM's state) before they stop.
  if (pids.length > 0) await sleep(500);
}
