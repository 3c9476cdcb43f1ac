import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { totalmem } from "node:os";
import { join } from "node:path";
import { SkiffError } from "@skiff/common";
import { freePort } from "../ports.js";

export interface AgentPlan {
  readonly name: string;
  readonly grpcPort: number;
  readonly dataDir: string;
  /** Memory this agent offers the control plane (its share of the host). */
  readonly memoryBytes: number;
}

export interface ClusterPlan {
  readonly repoRoot: string;
  readonly stateDir: string;
  readonly redisPort: number;
  readonly postgresPort: number;
  readonly apiPort: number;
  /** The API's mutual-TLS listener for the agents' registration and heartbeats. */
  readonly apiAgentPort: number;
  readonly operatorToken: string;
  readonly agentToken: string;
  readonly agents: readonly AgentPlan[];
  /** The network namespace of the region's gateway. */
  readonly netns: string;
  /** Which parts exist in this checkout (built); the cluster starts what exists. */
  readonly has: { api: boolean; migrations: boolean; agent: boolean };
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * Ports for each part. A port the operator set (`fixed`) must be free: the printed URL would
 * otherwise not be the one they asked for. Others reuse the previous start's port when it is
 * still free, so URLs stay the same across restarts, and move to a free one when it is not.
 */
async function choosePorts(
  stateDir: string,
  names: string[],
  fixed: Record<string, { port: number; env: string }>,
): Promise<Record<string, number>> {
  const file = join(stateDir, "ports.json");
  const previous: Record<string, number> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  const out: Record<string, number> = {};
  for (const n of names) {
    const set = fixed[n];
    if (set && set.port > 0) {
      if (!(await isFree(set.port))) {
        throw new SkiffError(
          "PORT_IN_USE",
          `${set.env}=${set.port}: that port is already in use on 127.0.0.1 (another Skiff, or another program?). ` +
            `Stop what holds it, choose another port, or unset ${set.env} to get a free one.`,
          { env: set.env, port: set.port },
        );
      }
      out[n] = set.port;
      continue;
    }
    const want = previous[n];
    out[n] = want && (await isFree(want)) ? want : await freePort();
  }
  writeFileSync(file, JSON.stringify(out, null, 2));
  return out;
}

const MiB = 2 ** 20;

/**
 * What each agent offers: several agents on one host would otherwise each offer all of its memory,
 * and placement would overcommit the host that many times. Half the host is shared out by default,
 * leaving the rest to PostgreSQL, Redis, the API, the agents themselves and everything else.
 */
export function agentMemoryShare(agents: number, configured: number, hostBytes = totalmem()): number {
  if (configured > 0) return configured;
  return Math.max(64 * MiB, Math.floor(hostBytes / 2 / Math.max(1, agents) / MiB) * MiB);
}

export async function planCluster(opts: {
  repoRoot: string;
  stateDir: string;
  agents: number;
  apiPort: number;
  agentMemory: number;
  operatorToken: string;
  agentToken: string;
  netns: string;
}): Promise<ClusterPlan> {
  const agentNames = Array.from({ length: opts.agents }, (_, i) => `node-${i + 1}`);
  const ports = await choosePorts(opts.stateDir, ["redis", "postgres", "api", "api-agents", ...agentNames], {
    api: { port: opts.apiPort, env: "SKIFF_API_PORT" },
  });
  const built = (p: string) => existsSync(join(opts.repoRoot, p));
  const memoryBytes = agentMemoryShare(opts.agents, opts.agentMemory);
  return {
    repoRoot: opts.repoRoot,
    stateDir: opts.stateDir,
    redisPort: ports.redis!,
    postgresPort: ports.postgres!,
    apiPort: ports.api!,
    apiAgentPort: ports["api-agents"]!,
    operatorToken: opts.operatorToken,
    agentToken: opts.agentToken,
    netns: opts.netns,
    agents: agentNames.map((name) => ({
      name,
      grpcPort: ports[name]!,
      dataDir: join(opts.stateDir, "agents", name),
      memoryBytes,
    })),
    has: {
      api: built("apps/api/dist/main.js"),
      migrations: built("apps/api/dist/db/migrate.js"),
      agent: built("apps/node-agent/dist/main.js"),
    },
  };
}
