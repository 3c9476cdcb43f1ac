import { Api, ApiError } from "./api.js";

/** The token lives in sessionStorage: this tab only, gone when the browser session ends. */
const KEY = "skiff.token";

export type Role = "operator" | "tenant";

export interface Session {
  readonly api: Api;
  readonly role: Role;
}

/**
 * Checks the token with the API and learns its role: any token may list projects; only an
 * operator's may list nodes. Keeps the token only when it works.
 */
export async function signIn(token: string): Promise<Session> {
  const api = new Api(token.trim());
  await api.get("/v1/projects?limit=1");
  let role: Role = "operator";
  try {
    await api.get("/v1/nodes?limit=1");
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "FORBIDDEN") throw err;
    role = "tenant";
  }
  sessionStorage.setItem(KEY, api.token);
  return { api, role };
}

export function savedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
