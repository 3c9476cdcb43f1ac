import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export const DEFAULT_API_URL = "http://127.0.0.1:8080";

export interface Connection {
  readonly baseUrl: string;
  readonly token: string | undefined;
  /** Where the URL came from, said in "cannot reach" errors so a wrong source is easy to spot. */
  readonly source: string;
}

interface LocalCluster {
  readonly url: string;
  readonly token: string | undefined;
  readonly stateDir: string;
}

/**
 * The cluster `npm start` runs keeps its chosen ports and generated operator token under
 * `.skiff/cluster` in the repository. Found by walking up from `cwd`, so `pnpm -s skiff ...` from
 * the repo reaches the local cluster with no setup.
 */
export function findLocalCluster(
  cwd: string,
  env: Record<string, string | undefined>,
): LocalCluster | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const stateDir = join(dir, env.SKIFF_STATE_DIR ?? ".skiff/cluster");
    const portsFile = join(stateDir, "ports.json");
    if (existsSync(portsFile)) {
      try {
        const ports = JSON.parse(readFileSync(portsFile, "utf8")) as { api?: number };
        if (typeof ports.api !== "number") return undefined;
        let token = env.SKIFF_OPERATOR_TOKEN || undefined;
        const secretsFile = join(stateDir, "secrets.json");
        if (!token && existsSync(secretsFile)) {
          const secrets = JSON.parse(readFileSync(secretsFile, "utf8")) as { operatorToken?: string };
          token = secrets.operatorToken;
        }
        // The local cluster's API port is SKIFF_API_PORT when that was set at start.
        const port = env.SKIFF_API_PORT ? Number(env.SKIFF_API_PORT) : ports.api;
        return { url: `http://127.0.0.1:${port}`, token, stateDir };
      } catch {
        return undefined;
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Where to send requests and with which token. First match wins: --api / --token, then
 * SKIFF_API_URL / SKIFF_TOKEN, then (only when no URL was given) the local cluster's files,
 * then http://127.0.0.1:8080 without a token.
 */
export function resolveConnection(opts: {
  apiFlag?: string;
  tokenFlag?: string;
  env: Record<string, string | undefined>;
  cwd: string;
}): Connection {
  const { env } = opts;
  const explicitToken = opts.tokenFlag ?? (env.SKIFF_TOKEN || undefined);
  if (opts.apiFlag) return { baseUrl: opts.apiFlag, token: explicitToken, source: "--api" };
  if (env.SKIFF_API_URL) return { baseUrl: env.SKIFF_API_URL, token: explicitToken, source: "SKIFF_API_URL" };
  const local = findLocalCluster(opts.cwd, env);
  if (local) {
    return {
      baseUrl: local.url,
      token: explicitToken ?? local.token,
      source: `the local cluster in ${local.stateDir}; is \`npm start\` running?`,
    };
  }
  return { baseUrl: DEFAULT_API_URL, token: explicitToken, source: "the default; set SKIFF_API_URL" };
}
