import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { SkiffError } from "@skiff/common";

export const DEFAULT_API_URL = "http://127.0.0.1:8080";

export interface Connection {
  readonly baseUrl: string;
  readonly token: string | undefined;
  /** Where the URL came from, said in "cannot reach" errors so a wrong source is easy to spot. */
  readonly source: string;
  /** Where the token came from, said when the API refuses it ("SKIFF_TOKEN", a secrets file...). */
  readonly tokenSource?: string;
}

interface LocalCluster {
  readonly url: string;
  readonly token: string | undefined;
  readonly tokenSource: string | undefined;
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
        let tokenSource = token ? "SKIFF_OPERATOR_TOKEN" : undefined;
        const secretsFile = join(stateDir, "secrets.json");
        if (!token && existsSync(secretsFile)) {
          const secrets = JSON.parse(readFileSync(secretsFile, "utf8")) as { operatorToken?: string };
          token = secrets.operatorToken;
          tokenSource = token ? secretsFile : undefined;
        }
        // The local cluster's API port is SKIFF_API_PORT when that was set at start.
        const port = env.SKIFF_API_PORT ? Number(env.SKIFF_API_PORT) : ports.api;
        return { url: `http://127.0.0.1:${port}`, token, tokenSource, stateDir };
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
 * An API address as typed: `127.0.0.1:8080` (no scheme) would otherwise fail deep in fetch as
 * "Invalid URL", which reads like a server bug.
 */
export function checkApiUrl(url: string, source: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // handled below
  }
  if (parsed && (parsed.protocol === "http:" || parsed.protocol === "https:")) return url;
  const hint = url.includes("://") ? " (http:// or https:// only)" : `; did you mean http://${url}?`;
  throw new SkiffError("BAD_API_URL", `the API address '${url}' (from ${source}) is not a URL${hint}`);
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
  const explicit =
    opts.tokenFlag !== undefined
      ? { token: opts.tokenFlag, tokenSource: "--token" }
      : env.SKIFF_TOKEN
        ? { token: env.SKIFF_TOKEN, tokenSource: "SKIFF_TOKEN" }
        : undefined;
  const saved = readLogin(env);
  const savedFile = `skiff login (${loginFile(env)})`;
  const tokenFor = (url: string) =>
    explicit ??
    (saved && sameApi(saved.apiUrl, url)
      ? { token: saved.token, tokenSource: savedFile }
      : { token: undefined });
  if (opts.apiFlag) {
    return { baseUrl: checkApiUrl(opts.apiFlag, "--api"), ...tokenFor(opts.apiFlag), source: "--api" };
  }
  if (env.SKIFF_API_URL) {
    const url = checkApiUrl(env.SKIFF_API_URL, "SKIFF_API_URL");
    return { baseUrl: url, ...tokenFor(url), source: "SKIFF_API_URL" };
  }
  if (saved) return { baseUrl: saved.apiUrl, ...tokenFor(saved.apiUrl), source: savedFile };
  const local = findLocalCluster(opts.cwd, env);
  if (local) {
    return {
      baseUrl: local.url,
      ...(explicit ?? { token: local.token, tokenSource: local.tokenSource }),
      source: `the local cluster in ${local.stateDir}; is \`npm start\` running?`,
    };
  }
  return {
    baseUrl: DEFAULT_API_URL,
    ...(explicit ?? { token: undefined }),
    source: "the default; set SKIFF_API_URL",
  };
}
