import { Api } from "./api.js";
import type { WhoAmI } from "./generated/api.js";

/** The token lives in sessionStorage: this tab only, gone when the browser session ends. */
const KEY = "skiff.token";

export type Role = WhoAmI["kind"];

export interface Session {
  readonly api: Api;
  readonly role: Role;
  /** Who signed in, for the header: the token's name and, for tenants, the project's. */
  readonly who: string;
}

/** Checks the token with the API and learns whose it is; keeps the token only when it works. */
export async function signIn(token: string): Promise<Session> {
  const api = new Api(token.trim());
  const me = await api.get<WhoAmI>("/v1/whoami");
  sessionStorage.setItem(KEY, api.token);
  return { api, role: me.kind, who: me.projectName ? `${me.tokenName} (${me.projectName})` : me.tokenName };
}

export function savedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
