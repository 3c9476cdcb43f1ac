import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startPostgres } from "../postgres.js";
import { startRedis } from "../redis.js";
import type { ClusterPlan } from "./plan.js";

interface Running {
  readonly name: string;
  stop(): Promise<void>;
}

const say = (msg: string) => console.log(`[cluster] ${msg}`);

/** A Node service of the cluster, its output in logs/<name>.log, in its own process group. */
function startNodeService(
  plan: ClusterPlan,
  name: string,
  script: string,
  env: Record<string, string>,
): Running {
  const logDir = join(plan.stateDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, `${name}.log`), { flags: "a" });
  // Detached: Ctrl-C reaches only this launcher, which then stops each part in order.
  const child = spawn(process.execPath, [join(plan.repoRoot, script)], {
    cwd: plan.repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let stopping = false;
  child.on("exit", (code, signal) => {
    if (!stopping) say(`${name} exited unexpectedly (${signal ?? code}); see ${join(logDir, `${name}.log`)}`);
  });
  return {
    name,
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      if ((await Promise.race([exited, sleep(10_000).then(() => "timeout")])) === "timeout")
        child.kill("SIGKILL");
    },
  };
}

export async function runCluster(plan: ClusterPlan): Promise<number> {
  const running: Running[] = [];
  const stopAll = async () => {
    for (const r of running.reverse()) {
      say(`stopping ${r.name}`);
      await r.stop().catch(() => undefined);
    }
  };
  try {
    say("starting Redis");
    const redis = await startRedis({ dataDir: join(plan.stateDir, "redis"), port: plan.redisPort });
    running.push({ name: "redis", stop: redis.stop });
    say("starting PostgreSQL");
    const pg = await startPostgres({ dataDir: join(plan.stateDir, "postgres"), port: plan.postgresPort });
    running.push({ name: "postgres", stop: pg.stop });

    const apiUrl = `http://127.0.0.1:${plan.apiPort}`;
    const common = {
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      SKIFF_API_URL: apiUrl,
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
    if (plan.has.api) {
      say("starting the API and its workers");
      running.push(
        startNodeService(plan, "api", "apps/api/dist/main.js", {
          ...common,
          SKIFF_API_PORT: String(plan.apiPort),
          SKIFF_API_HOST: "127.0.0.1",
        }),
      );
    }
    if (plan.has.agent) {
      for (const a of plan.agents) {
        say(`starting node agent ${a.name}`);
        running.push(
          startNodeService(plan, a.name, "apps/node-agent/dist/main.js", {
            ...common,
            SKIFF_AGENT_NAME: a.name,
            SKIFF_AGENT_GRPC_PORT: String(a.grpcPort),
            SKIFF_AGENT_DATA_DIR: a.dataDir,
            SKIFF_AGENT_SHARED_DIR: join(plan.stateDir, "shared-storage"),
          }),
        );
      }
      // Stopped first on Ctrl-C (while the agents still run, so the control plane sees them stop):
      // VMM processes outlive their agent by design, but a local cluster leaves nothing behind.
      running.push({ name: "VM processes", stop: () => stopVmms(plan.agents.map((a) => a.dataDir)) });
    }

    const lines = [
      "",
      "Skiff local cluster is up.",
      `  Redis        ${redis.url}`,
      `  PostgreSQL   ${pg.url}`,
      plan.has.api
        ? `  API          ${apiUrl}   (docs: ${apiUrl}/docs)`
        : "  API          (not built in this checkout yet)",
      plan.has.agent
        ? `  node agents  ${plan.agents.map((a) => `${a.name} 127.0.0.1:${a.grpcPort}`).join(", ")}`
        : "  node agents  (not built in this checkout yet)",
      `  operator token: ${plan.operatorToken}`,
      `  data and logs: ${plan.stateDir}`,
      "Press Ctrl-C to stop.",
      "",
    ];
    console.log(lines.join("\n"));

    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    say("shutting down");
    await stopAll();
    say("stopped; data kept for the next start");
    return 0;
  } catch (err) {
    console.error(`[cluster] ERROR: ${(err as Error).message}`);
    await stopAll();
    return 1;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM to every VMM found under the agents' data dirs (vms/<id>/vmm.pid), SIGKILL after 10 s. */
async function stopVmms(agentDirs: readonly string[]): Promise<void> {
  const pids: number[] = [];
  for (const dir of agentDirs) {
    const vms = join(dir, "vms");
    if (!existsSync(vms)) continue;
    for (const id of readdirSync(vms)) {
      const pidFile = join(vms, id, "vmm.pid");
      if (!existsSync(pidFile)) continue;
      const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) pids.push(pid);
    }
  }
  for (const pid of pids) process.kill(pid, "SIGTERM");
  for (let waited = 0; waited < 10_000 && pids.some(alive); waited += 100) await sleep(100);
  for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL");
}
