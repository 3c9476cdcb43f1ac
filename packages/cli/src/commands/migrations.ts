import { flag, positionals, stringOpt } from "../args.js";
import { type Command, emit } from "../command.js";
import { describe, formatAge, formatBytes, formatMs, orDash, shortId, table } from "../format.js";
import { nodeId, nodeNames, vpsId, vpsNames } from "../resolve.js";
import type { Migration, MigrationRound, MigrationState } from "../types.js";
import { idempotencyKey, LIST_HELP, LIST_OPTIONS, listCommand, MUTATE_OPTIONS } from "./common.js";

/** States a migration does not leave: once there, `--wait` stops waiting. */
export const TERMINAL_MIGRATION_STATES: ReadonlySet<MigrationState> = new Set<MigrationState>([
  "completed",
  "rolled-back",
  "failed",
]);

function node(names: ReadonlyMap<string, string>, id: string | null | undefined): string {
  return id ? (names.get(id) ?? shortId(id)) : "-";
}

export function migrationTable(
  items: readonly Migration[],
  names: ReadonlyMap<string, string>,
  vpses: ReadonlyMap<string, string> = new Map(),
): string {
  return table(items, [
    { header: "id", value: (m) => m.id },
    { header: "vps", value: (m) => vpses.get(m.vpsId) ?? shortId(m.vpsId) },
    { header: "state", value: (m) => m.state },
    { header: "trigger", value: (m) => orDash(m.trigger) },
    { header: "from", value: (m) => node(names, m.sourceNodeId) },
    { header: "to", value: (m) => node(names, m.targetNodeId) },
    { header: "rounds", value: (m) => String(m.rounds.length), align: "right" },
    { header: "sent", value: (m) => formatBytes(m.bytesSent), align: "right" },
    { header: "downtime", value: (m) => formatMs(m.downtimeMs), align: "right" },
    { header: "age", value: (m) => formatAge(m.createdAt), align: "right" },
  ]);
}

/** A migration as key/value lines, node ids completed with their names. */
export function describeMigration(m: Migration, names: ReadonlyMap<string, string>): string {
  const shown: Record<string, unknown> = { ...m };
  for (const k of ["sourceNodeId", "targetNodeId"] as const) {
    const id = m[k];
    if (id && names.has(id)) shown[k] = `${id} (${names.get(id)})`;
  }
  if (typeof m.downtimeMs === "number") shown.downtimeMs = formatMs(m.downtimeMs);
  if (typeof m.totalMs === "number") shown.totalMs = formatMs(m.totalMs);
  if (typeof m.throughputBytesPerSec === "number")
    shown.throughputBytesPerSec = `${formatBytes(m.throughputBytesPerSec)}/s`;
  shown.rounds = m.rounds.length;
  return describe(shown) + (m.rounds.length > 0 ? `\n${roundTable(m.rounds)}` : "");
}

/**
 * Pre-copy rounds as the source agent reported them: what each sent, how long it took, how fast
 * the guest dirtied memory meanwhile and how hard auto-converge held it back.
 */
export function roundTable(rounds: readonly MigrationRound[]): string {
  return table(rounds, [
    { header: "round", value: (r) => String(r.round), align: "right" },
    { header: "phase", value: (r) => r.phase },
    { header: "pages", value: (r) => String(r.pages), align: "right" },
    { header: "zero", value: (r) => String(r.zeroPages), align: "right" },
    { header: "blocks", value: (r) => String(r.blocks), align: "right" },
    { header: "sent", value: (r) => formatBytes(r.bytes), align: "right" },
    { header: "time", value: (r) => formatMs(r.ms), align: "right" },
    // A page is 4 KiB: the rate people compare with link bandwidth.
    { header: "dirty rate", value: (r) => `${formatBytes(r.dirtyPagesPerSec * 4096)}/s`, align: "right" },
    { header: "throttle", value: (r) => `${r.throttlePercent}%`, align: "right" },
  ]);
}

const list: Command = {
  path: ["migrations", "list"],
  usage: "[--vps VPS] [--node NODE] [--state S] [--active] [--trigger manual|drain|balancer|recovery]",
  summary: "list live migrations (operators)",
  details: [
    "  --node NODE   migrations from or to a node      --active   only those still in flight",
    LIST_HELP,
  ].join("\n"),
  options: {
    ...LIST_OPTIONS,
    vps: { type: "string" },
    node: { type: "string" },
    state: { type: "string" },
    active: { type: "boolean" },
    trigger: { type: "string" },
  },
  async run(ctx) {
    positionals(ctx.args, []);
    const v = ctx.args.values;
    const vps = stringOpt(v, "vps");
    const node = stringOpt(v, "node");
    const query = {
      vpsId: vps ? await vpsId(ctx.api, vps) : undefined,
      nodeId: node ? await nodeId(ctx.api, node) : undefined,
      state: stringOpt(v, "state"),
      active: flag(v, "active") ? "true" : undefined,
      trigger: stringOpt(v, "trigger"),
    };
    const names = ctx.json ? new Map<string, string>() : await nodeNames(ctx.api);
    return listCommand<Migration>(
      ctx,
      "/v1/migrations",
      query,
      async (items) =>
        migrationTable(
          items,
          names,
          await vpsNames(
            ctx.api,
            items.map((m) => m.vpsId),
          ),
        ),
      "No migrations.",
    );
  },
};

const get: Command = {
  path: ["migrations", "get"],
  usage: "<id>",
  summary: "show one migration: state, rounds, bytes, downtime",
  async run(ctx) {
    const [id] = positionals(ctx.args, ["id"]);
    const m = await ctx.api.get<Migration>(`/v1/migrations/${id}`);
    const names = ctx.json ? new Map<string, string>() : await nodeNames(ctx.api);
    emit(ctx, m, () => describeMigration(m, names));
    return 0;
  },
};

const cancel: Command = {
  path: ["migrations", "cancel"],
  usage: "<id>",
  summary: "cancel a migration before its commit (the VPS stays on its source)",
  options: MUTATE_OPTIONS,
  async run(ctx) {
    const [id] = positionals(ctx.args, ["id"]);
    const m = await ctx.api.post<Migration>(`/v1/migrations/${id}/cancel`, undefined, idempotencyKey(ctx));
    emit(ctx, m, () => `migration ${m.id}  ${m.state}${m.cancelRequestedAt ? "  (cancel requested)" : ""}\n`);
    return 0;
  },
};

export const migrationCommands: Command[] = [list, get, cancel];
