import { intOpt, positionals, stringOpt, UsageError } from "../args.js";
import { type Command, emit } from "../command.js";
import { formatAge, orDash, shortId, table } from "../format.js";
import { isUuid } from "../resolve.js";
import type { Token } from "../types.js";
import { idempotencyKey, LIST_HELP, LIST_OPTIONS, listCommand, MUTATE_OPTIONS } from "./common.js";

function tokenState(t: Token, now: number): string {
  if (t.revokedAt) return "revoked";
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return "expired";
  return "active";
}

export function tokenTable(items: readonly Token[], now = Date.now()): string {
  return table(items, [
    { header: "id", value: (t) => t.id },
    { header: "name", value: (t) => t.name },
    { header: "prefix", value: (t) => t.prefix },
    { header: "scope", value: (t) => t.scope },
    { header: "project", value: (t) => shortId(t.projectId) },
    { header: "state", value: (t) => tokenState(t, now) },
    { header: "last used", value: (t) => (t.lastUsedAt ? `${formatAge(t.lastUsedAt, now)} ago` : "never") },
    { header: "expires", value: (t) => orDash(t.expiresAt?.slice(0, 10)) },
  ]);
}

const list: Command = {
  path: ["tokens", "list"],
  usage: "[--project ID]",
  summary: "list API tokens (tenants: their project's; operators: all)",
  details: LIST_HELP,
  options: { ...LIST_OPTIONS, project: { type: "string" } },
  async run(ctx) {
    positionals(ctx.args, []);
    return listCommand<Token>(
      ctx,
      "/v1/tokens",
      { projectId: stringOpt(ctx.args.values, "project") },
      (items) => tokenTable(items),
      "No tokens.",
    );
  },
};

/** An id goes as projectId (every API version takes it), a name as project. */
function projectRef(ref: string | undefined): { projectId?: string; project?: string } {
  if (ref === undefined) return {};
  return isUuid(ref) ? { projectId: ref } : { project: ref };
}

const create: Command = {
  path: ["tokens", "create"],
  usage: "<name> [--scope tenant|operator] [--project PROJECT] [--expires-in-days N]",
  summary: "create a token; its secret is printed once",
  details: [
    "  --scope      tenant (default) or operator (operators only)",
    "  --project    the project of a tenant token, by name or id (operators; tenants always get their own)",
  ].join("\n"),
  options: {
    ...MUTATE_OPTIONS,
    scope: { type: "string" },
    project: { type: "string" },
    "expires-in-days": { type: "string" },
  },
  async run(ctx) {
    const [name] = positionals(ctx.args, ["name"]);
    const v = ctx.args.values;
    const scope = stringOpt(v, "scope");
    if (scope !== undefined && scope !== "tenant" && scope !== "operator") {
      throw new UsageError(`--scope must be tenant or operator, got '${scope}'`);
    }
    const t = await ctx.api.post<Token>(
      "/v1/tokens",
      {
        name,
        scope,
        ...projectRef(stringOpt(v, "project")),
        expiresInDays: intOpt(v, "expires-in-days", 1, 3650),
      },
      idempotencyKey(ctx),
    );
    emit(
      ctx,
      t,
      () =>
        `created ${t.scope} token ${t.name} (${t.id})\n` +
        `${t.token}\n` +
        "The secret is shown only now: store it (e.g. export SKIFF_TOKEN=...).\n",
    );
    return 0;
  },
};

const revoke: Command = {
  path: ["tokens", "revoke"],
  usage: "<id>",
  summary: "revoke a token (at once, for good)",
  async run(ctx) {
    const [id] = positionals(ctx.args, ["id"]);
    const t = await ctx.api.delete<Token>(`/v1/tokens/${id}`);
    emit(ctx, t, () => `revoked token ${t.name} (${t.id})\n`);
    return 0;
  },
};

export const tokenCommands: Command[] = [list, create, revoke];
