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

/** What `skiff login` saved: one API and its token. */
export interface SavedLogin {
  readonly apiUrl: string;
  readonly token: string;
}

/** $SKIFF_CONFIG, or $XDG_CONFIG_HOME/skiff/config.json, or ~/.config/skiff/config.json. */
export function loginFile(env: Record<string, string | undefined>): string | undefined {
  if (env.SKIFF_CONFIG) return env.SKIFF_CONFIG;
  const base = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, ".config") : undefined);
  return base ? join(base, "skiff", "config.json") : undefined;
}

export function readLogin(env: Record<string, string | undefined>): SavedLogin | undefined {
  const file = loginFile(env);
  if (!file || !existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as Partial<SavedLogin>;
    return typeof v.apiUrl === "string" && typeof v.token === "string"
      ? { apiUrl: v.apiUrl, token: v.token }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The saved token belongs to its API only: it is never sent anywhere else. */
function sameApi(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}

/**
 * Where to send requests and with which token. First match wins: --api / --token, then
 * SKIFF_API_URL / SKIFF_TOKEN, then what `skiff login` saved, then (only when no URL was given)
 * the local cluster's files, then http://127.0.0.1:8080 without a token. A saved or local token
 * only goes to the API it came with.
 */
export function resolveConnection(opts: {
  apiFlag?: string;
  tokenFlag?: string;
  env: Record<string, string | undefined>;
  cwd: string;
}): Connection {
  const { env } = opts;
  const explicitToken = opts.tokenFlag ?? (env.SKIFF_TOKEN || undefined);
  const saved = readLogin(env);
  const savedFor = (url: string) => (saved && sameApi(saved.apiUrl, url) ? saved.token : undefined);
  if (opts.apiFlag)
    return { baseUrl: opts.apiFlag, token: explicitToken ?? savedFor(opts.apiFlag), source: "--api" };
  if (env.SKIFF_API_URL) {
    const url = env.SKIFF_API_URL;
    return { baseUrl: url, token: explicitToken ?? savedFor(url), source: "SKIFF_API_URL" };
  }
  if (saved) {
    return {
      baseUrl: saved.apiUrl,
      token: explicitToken ?? saved.token,
      source: `skiff login (${loginFile(env)})`,
    };
  }
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
