import { positionals, stringOpt } from "../args.js";
import { type Command, emit } from "../command.js";
import { describe, formatAge, formatBytes, formatMs, orDash, shortId, table } from "../format.js";
import { nodeNames, vpsId } from "../resolve.js";
import type { Migration } from "../types.js";
import { idempotencyKey, LIST_HELP, LIST_OPTIONS, listCommand, MUTATE_OPTIONS } from "./common.js";

/** States a migration does not leave (issue 8's state machine). */
export const TERMINAL_MIGRATION_STATES: ReadonlySet<string> = new Set([
  "completed",
  "rolled-back",
  "rolled_back",
  "failed",
  "cancelled",
  "canceled",
]);

function bytesOf(m: Migration): number | undefined {
  return m.bytesSent ?? m.bytesTransferred;
}

function roundsOf(m: Migration): string {
  return Array.isArray(m.rounds) ? String(m.rounds.length) : orDash(m.rounds);
}

function node(names: ReadonlyMap<string, string>, id: string | null | undefined): string {
  return id ? (names.get(id) ?? shortId(id)) : "-";
}

export function migrationTable(items: readonly Migration[], names: ReadonlyMap<string, string>): string {
  return table(items, [
    { header: "id", value: (m) => m.id },
    { header: "vps", value: (m) => shortId(m.vpsId) },
    { header: "state", value: (m) => m.state },
    { header: "from", value: (m) => node(names, m.sourceNodeId) },
    { header: "to", value: (m) => node(names, m.targetNodeId) },
    { header: "rounds", value: roundsOf, align: "right" },
    { header: "sent", value: (m) => formatBytes(bytesOf(m)), align: "right" },
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
  const rounds = Array.isArray(m.rounds) ? m.rounds : undefined;
  if (rounds) shown.rounds = rounds.length;
  const perRound = rounds && rounds.length > 0 && rounds.every(isObject) ? `\n${roundTable(rounds)}` : "";
  return describe(shown) + perRound;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function field(r: Record<string, unknown>, ...names: string[]): unknown {
  for (const n of names) if (r[n] !== undefined) return r[n];
  return undefined;
}

/**
 * Pre-copy rounds as the source agent reported them (proto MigrationRound: round, phase, pages,
 * zeroPages, blocks, bytes, ms, dirtyPagesPerSec, throttlePercent).
 */
export function roundTable(rounds: readonly Record<string, unknown>[]): string {
  const n = (v: unknown) => (typeof v === "number" ? v : undefined);
  const dirty = (r: Record<string, unknown>) => {
    const pps = n(field(r, "dirtyPagesPerSec"));
    return pps === undefined ? "-" : `${formatBytes(pps * 4096)}/s`;
  };
  return table(
    rounds.map((r, i) => ({ r, i })),
    [
      { header: "round", value: ({ r, i }) => orDash(field(r, "round") ?? i), align: "right" },
      { header: "phase", value: ({ r }) => orDash(field(r, "phase")) },
      { header: "pages", value: ({ r }) => orDash(field(r, "pages")), align: "right" },
      { header: "zero", value: ({ r }) => orDash(field(r, "zeroPages")), align: "right" },
      { header: "blocks", value: ({ r }) => orDash(field(r, "blocks")), align: "right" },
      { header: "sent", value: ({ r }) => formatBytes(n(field(r, "bytes", "bytesSent"))), align: "right" },
      { header: "time", value: ({ r }) => formatMs(n(field(r, "ms", "durationMs"))), align: "right" },
      { header: "dirty rate", value: ({ r }) => dirty(r), align: "right" },
      { header: "throttle", value: ({ r }) => orDash(field(r, "throttlePercent")), align: "right" },
    ],
  );
}

const list: Command = {
  path: ["migrations", "list"],
  usage: "[--vps VPS] [--state S]",
  summary: "list live migrations (operators)",
  details: LIST_HELP,
  options: { ...LIST_OPTIONS, vps: { type: "string" }, state: { type: "string" } },
  async run(ctx) {
    positionals(ctx.args, []);
    const v = ctx.args.values;
    const vps = stringOpt(v, "vps");
    const query = { vpsId: vps ? await vpsId(ctx.api, vps) : undefined, state: stringOpt(v, "state") };
    const names = ctx.json ? new Map<string, string>() : await nodeNames(ctx.api);
    return listCommand<Migration>(
      ctx,
      "/v1/migrations",
      query,
      (items) => migrationTable(items, names),
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
    emit(ctx, m, () => `migration ${m.id}  ${m.state}\n`);
    return 0;
  },
};

export const migrationCommands: Command[] = [list, get, cancel];
