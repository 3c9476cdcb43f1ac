import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { positionals, UsageError } from "../args.js";
import { ApiClient } from "../client.js";
import { type Command, emit } from "../command.js";
import { loginFile, readLogin } from "../config.js";
import type { WhoAmI } from "../types.js";

/** "operator token bootstrap", "tenant token ci (project web, expires 2027-01-01)". */
export function describeWhoAmI(w: WhoAmI): string {
  const more = [
    ...(w.projectName ? [`project ${w.projectName}`] : []),
    ...(w.expiresAt ? [`expires ${w.expiresAt.slice(0, 10)}`] : []),
  ];
  return `${w.kind} token ${w.tokenName}${more.length ? ` (${more.join(", ")})` : ""}`;
}

const login: Command = {
  path: ["login"],
  usage: "[--api URL] --token TOKEN",
  summary: "check a token against the API and remember both (for this user)",
  details: [
    "  Saved to $SKIFF_CONFIG, or $XDG_CONFIG_HOME/skiff/config.json, or ~/.config/skiff/config.json",
    "  (mode 0600). SKIFF_API_URL / SKIFF_TOKEN and the flags still win; the saved token is only",
    "  ever sent to the API it was saved with.",
  ].join("\n"),
  async run(ctx) {
    positionals(ctx.args, []);
    const token = ctx.args.values.token;
    if (typeof token !== "string" || token === "") throw new UsageError("--token is required");
    // ctx.api already points where --api / SKIFF_API_URL / the local cluster say.
    const api = new ApiClient({ baseUrl: ctx.api.baseUrl, token });
    // The API says what the token is: its prefix need not (a region's first operator token is
    // whatever SKIFF_OPERATOR_TOKEN was set to).
    const who = await api.get<WhoAmI>("/v1/whoami");
    const file = loginFile(ctx.io.env);
    if (!file) throw new UsageError("no place to save the login: set HOME or SKIFF_CONFIG");
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${JSON.stringify({ apiUrl: api.baseUrl, token }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    const saved = { apiUrl: api.baseUrl, ...who, file };
    const article = who.kind === "operator" ? "an" : "a";
    emit(
      ctx,
      saved,
      () => `logged in to ${api.baseUrl} with ${article} ${describeWhoAmI(who)} (saved in ${file})\n`,
    );
    return 0;
  },
};

const whoami: Command = {
  path: ["whoami"],
  usage: "",
  summary: "which API and token skiff uses, and what the API says the token is",
  async run(ctx) {
    positionals(ctx.args, []);
    const who = await ctx.api.get<WhoAmI>("/v1/whoami");
    const from = ctx.api.tokenSource ? ` (token from ${ctx.api.tokenSource})` : "";
    emit(
      ctx,
      { apiUrl: ctx.api.baseUrl, tokenSource: ctx.api.tokenSource ?? null, ...who },
      () => `${describeWhoAmI(who)} at ${ctx.api.baseUrl}${from}\n`,
    );
    return 0;
  },
};

const logout: Command = {
  path: ["logout"],
  usage: "",
  summary: "forget the saved API address and token",
  async run(ctx) {
    positionals(ctx.args, []);
    const file = loginFile(ctx.io.env);
    const had = readLogin(ctx.io.env);
    if (file) rmSync(file, { force: true });
    emit(ctx, { loggedOut: had !== undefined }, () =>
      had ? `forgot the login to ${had.apiUrl}\n` : "not logged in\n",
    );
    return 0;
  },
};

export const loginCommands: Command[] = [login, whoami, logout];
