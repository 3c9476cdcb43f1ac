import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../ports.js";

export interface AgentPlan {
  readonly name: string;
  readonly grpcPort: number;
  readonly dataDir: string;
}

export interface ClusterPlan {
  readonly repoRoot: string;
  readonly stateDir: string;
  readonly redisPort: number;
  readonly postgresPort: number;
  readonly apiPort: number;
  readonly operatorToken: string;
  readonly agentToken: string;
  readonly agents: readonly AgentPlan[];
  /** Which parts exist in this checkout (built); the cluster starts what exists. */
  readonly has: { api: boolean; migrations: boolean; agent: boolean };
}

/** Reuses the ports of the previous start when they are still free, so URLs stay the same. */
async function stablePorts(
  stateDir: string,
  names: string[],
  fixed: Record<string, number>,
): Promise<Record<string, number>> {
  const file = join(stateDir, "ports.json");
  const previous: Record<string, number> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const out: Record<string, number> = {};
  for (const n of names) {
    const want = fixed[n] || previous[n];
    out[n] = want && (await isFree(want)) ? want : await freePort();
  }
  writeFileSync(file, JSON.stringify(out, null, 2));
  return out;
}

async function isFree(port: number): Promise<boolean> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

export async function planCluster(opts: {
  repoRoot: string;
  stateDir: string;
  agents: number;
  apiPort: number;
  operatorToken: string;
  agentToken: string;
}): Promise<ClusterPlan> {
  const agentNames = Array.from({ length: opts.agents }, (_, i) => `node-${i + 1}`);
  const ports = await stablePorts(opts.stateDir, ["redis", "postgres", "api", ...agentNames], {
    api: opts.apiPort,
  });
  const built = (p: string) => existsSync(join(opts.repoRoot, p));
  return {
    repoRoot: opts.repoRoot,
    stateDir: opts.stateDir,
    redisPort: ports.redis!,
    postgresPort: ports.postgres!,
    apiPort: ports.api!,
    operatorToken: opts.operatorToken,
    agentToken: opts.agentToken,
    agents: agentNames.map((name) => ({
      name,
      grpcPort: ports[name]!,
      dataDir: join(opts.stateDir, "agents", name),
    })),
    has: {
      api: built("apps/api/dist/main.js"),
      migrations: built("apps/api/dist/db/migrate.js"),
      agent: built("apps/node-agent/dist/main.js"),
    },
  };
}
