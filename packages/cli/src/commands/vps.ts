import { bytesOpt, durationMsOpt, flag, intOpt, positionals, stringOpt, UsageError } from "../args.js";
import { ApiError } from "../client.js";
import { type Command, type Context, emit } from "../command.js";
import { describe, formatAge, formatBytes, orDash, shortId, table } from "../format.js";
import { nodeId, nodeNames, vpsId } from "../resolve.js";
import type { Migration, Vps } from "../types.js";
import {
  idempotencyKey,
  LIST_HELP,
  LIST_OPTIONS,
  listCommand,
  MUTATE_OPTIONS,
  WAIT_OPTIONS,
  waitFor,
} from "./common.js";
import { describeMigration, TERMINAL_MIGRATION_STATES } from "./migrations.js";

/** Lifecycle actions the API offers at POST /v1/vps/:id/actions/:action. */
export const VPS_ACTIONS = ["start", "stop", "reboot", "pause", "resume", "suspend", "restore"] as const;

export function vpsTable(items: readonly Vps[], nodes: ReadonlyMap<string, string>): string {
  return table(items, [
    { header: "id", value: (v) => v.id },
    { header: "name", value: (v) => v.name },
    { header: "state", value: vpsState },
    { header: "node", value: (v) => (v.nodeId ? (nodes.get(v.nodeId) ?? shortId(v.nodeId)) : "-") },
    { header: "address", value: (v) => v.ipv4 ?? "-" },
    { header: "vcpus", value: (v) => String(v.vcpus), align: "right" },
    { header: "memory", value: (v) => formatBytes(v.memoryBytes), align: "right" },
    { header: "disk", value: (v) => formatBytes(v.diskBytes), align: "right" },
    { header: "age", value: (v) => formatAge(v.createdAt), align: "right" },
  ]);
}

/**
 * The state, with the action in flight when the state does not already say it: "stopping" for
 * stop, but "running (pause)" while a pause is under way.
 */
export function vpsState(v: Vps): string {
  if (!v.action || v.state.startsWith(v.action.replace(/e$/, ""))) return v.state;
  return `${v.state} (${v.action})`;
}

/** One line saying where a VPS is after an action: "web-1  stopping  (stop queued)". */
export function vpsStatusLine(v: Vps): string {
  const reason = v.state === "error" && v.stateReason ? `: ${v.stateReason}` : "";
  const queued = v.action ? `  (${v.action} in progress)` : "";
  return `${v.name}  ${v.state}${queued}${reason}\n`;
}

/** Done when nothing holds the VPS any more (states ending in -ing always carry their action). */
function settled(v: Vps): boolean {
  return v.action === null;
}

/** Prints where the VPS is now, or with --wait follows it until nothing holds it. */
export async function finish(ctx: Context, v: Vps): Promise<number> {
  if (!ctx.args.values.wait) {
    emit(ctx, v, () => vpsStatusLine(v));
    return 0;
  }
  let last = v;
  try {
    last = await waitFor(
      ctx,
      { what: `VPS ${v.name}`, follow: `skiff vps get ${v.name}` },
      () => ctx.api.get<Vps>(`/v1/vps/${v.id}`),
      settled,
    );
  } catch (err) {
    // A deleted VPS may disappear from GET: that is the end we waited for.
    if (!(err instanceof ApiError && err.status === 404 && v.action === "delete")) throw err;
    last = { ...v, state: "deleted", action: null };
  }
  emit(ctx, last, () => vpsStatusLine(last));
  if (last.state === "error") {
    throw new ApiError(0, "VPS_ERROR", `${last.name} is in error: ${last.stateReason ?? "no reason given"}`);
  }
  return 0;
}

const list: Command = {
  path: ["vps", "list"],
  usage: "[--state S] [--node NODE] [--name N] [--project ID] [--include-deleted]",
  summary: "list VPSes (yours; operators: every project's)",
  details: LIST_HELP,
  options: {
    ...LIST_OPTIONS,
    state: { type: "string" },
    node: { type: "string" },
    name: { type: "string" },
    project: { type: "string" },
    "include-deleted": { type: "boolean" },
  },
  async run(ctx) {
    positionals(ctx.args, []);
    const v = ctx.args.values;
    const node = stringOpt(v, "node");
    const query = {
      state: stringOpt(v, "state"),
      nodeId: node ? await nodeId(ctx.api, node) : undefined,
      name: stringOpt(v, "name"),
      projectId: stringOpt(v, "project"),
      includeDeleted: flag(v, "include-deleted") ? "true" : undefined,
    };
    const nodes = ctx.json ? new Map<string, string>() : await nodeNames(ctx.api);
    return listCommand<Vps>(ctx, "/v1/vps", query, (items) => vpsTable(items, nodes), "No VPSes.");
  },
};

const get: Command = {
  path: ["vps", "get"],
  usage: "<vps>",
  summary: "show one VPS (by id or name)",
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["vps"]);
    const v = await ctx.api.get<Vps>(`/v1/vps/${await vpsId(ctx.api, ref!)}`);
    const nodes = ctx.json || !v.nodeId ? new Map<string, string>() : await nodeNames(ctx.api);
    const node = v.nodeId && nodes.get(v.nodeId);
    emit(ctx, v, () => describe({ ...v, ...(node ? { nodeId: `${v.nodeId} (${node})` } : {}) }));
    return 0;
  },
};

const create: Command = {
  path: ["vps", "create"],
  usage:
    "<name> --plan PLAN [--image IMAGE | --snapshot SNAPSHOT] [--ssh-key KEY[,KEY...]] [--group GROUP] [--node NODE] [--project ID] [--wait]",
  summary: "create a VPS (202: it is placed and booted in the background)",
  details: [
    "  --plan, --image, --group take an id or a name; the default image when --image is left out.",
    "  --snapshot starts from a disk snapshot (its VPS's image, on the node that keeps it).",
    "  --ssh-key names the project's SSH keys (skiff ssh-keys list) root may log in with.",
    "  --node (operators) pins the VPS to a node; --project (operators) picks the project.",
    "  --wait follows the VPS until it is running (or in error); --timeout 5m bounds the wait.",
  ].join("\n"),
  options: {
    ...MUTATE_OPTIONS,
    ...WAIT_OPTIONS,
    plan: { type: "string" },
    image: { type: "string" },
    snapshot: { type: "string" },
    "ssh-key": { type: "string" },
    group: { type: "string" },
    node: { type: "string" },
    project: { type: "string" },
  },
  async run(ctx) {
    const [name] = positionals(ctx.args, ["name"]);
    const v = ctx.args.values;
    const plan = stringOpt(v, "plan");
    if (!plan) throw new UsageError("--plan is required (see `skiff plans`)");
    const body = {
      name,
      plan,
      image: stringOpt(v, "image"),
      snapshot: stringOpt(v, "snapshot"),
      sshKeys: stringOpt(v, "ssh-key")?.split(","),
      placementGroup: stringOpt(v, "group"),
      node: stringOpt(v, "node"),
      projectId: stringOpt(v, "project"),
    };
    const created = await ctx.api.post<Vps>("/v1/vps", body, idempotencyKey(ctx));
    return finish(ctx, created);
  },
};

const del: Command = {
  path: ["vps", "delete"],
  usage: "<vps> [--yes] [--wait]",
  summary: "delete a VPS (its VM and disk are destroyed; it ends in state deleted)",
  details: "  --yes   do not ask (needed when stdin is not a terminal, e.g. in scripts)",
  options: { ...MUTATE_OPTIONS, ...WAIT_OPTIONS, yes: { type: "boolean", short: "y" } },
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["vps"]);
    const id = await vpsId(ctx.api, ref!);
    if (!flag(ctx.args.values, "yes")) await confirm(ctx, `delete VPS ${ref} (${id}) and its disk?`);
    return finish(ctx, await ctx.api.delete<Vps>(`/v1/vps/${id}`, idempotencyKey(ctx)));
  },
};

/**
 * Asks y/N on the terminal. Without a terminal there is nobody to ask: refuse, so a script that
 * forgot --yes fails before it deletes anything rather than after.
 */
export async function confirm(ctx: Context, question: string): Promise<void> {
  const stdin = ctx.io.stdin;
  if (!stdin?.isTTY)
    throw new UsageError(`${question.replace(/\?$/, "")}: pass --yes to confirm (stdin is not a terminal)`);
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new ApiError(0, "CANCELLED", "nothing deleted");
  } finally {
    rl.close();
  }
}

/** After `vps migrate` without --wait: where it goes and how to follow it. */
export function migrationStartedLine(
  m: Migration,
  vpsName: string,
  names: ReadonlyMap<string, string>,
): string {
  const node = (id: string) => names.get(id) ?? shortId(id);
  return (
    `migration ${m.id}: ${vpsName} ${node(m.sourceNodeId)} → ${node(m.targetNodeId)}  ${m.state}\n` +
    `follow it: skiff migrations get ${m.id} (or migrate with --wait)\n`
  );
}

function actionCommand(action: (typeof VPS_ACTIONS)[number]): Command {
  return {
    path: ["vps", action],
    usage: "<vps> [--wait]",
    summary: `${action} a VPS`,
    options: { ...MUTATE_OPTIONS, ...WAIT_OPTIONS },
    async run(ctx) {
      const [ref] = positionals(ctx.args, ["vps"]);
      const id = await vpsId(ctx.api, ref!);
      return finish(
        ctx,
        await ctx.api.post<Vps>(`/v1/vps/${id}/actions/${action}`, undefined, idempotencyKey(ctx)),
      );
    },
  };
}

const migrate: Command = {
  path: ["vps", "migrate"],
  usage: "<vps> [--to NODE] [--max-downtime MS] [--bandwidth RATE] [--max-rounds N] [--wait]",
  summary: "move a running VPS live to another node (operators)",
  details: [
    "  --to NODE            target node (id or name); the scheduler picks one when left out",
    "  --max-downtime MS    downtime target for the final stop-and-copy (e.g. 50 or 50ms)",
    "  --bandwidth RATE     cap on the migration stream, bytes per second (e.g. 100M)",
    "  --max-rounds N       pre-copy rounds at most before stop-and-copy",
    "  --give-up-after DUR  abort (and roll back) a migration that takes longer (e.g. 10m)",
    "  --reason TEXT        recorded with the migration and its events",
    "  --wait               follow the migration to its end and print its figures (exit 1 unless it completed)",
  ].join("\n"),
  options: {
    ...MUTATE_OPTIONS,
    ...WAIT_OPTIONS,
    to: { type: "string" },
    "max-downtime": { type: "string" },
    bandwidth: { type: "string" },
    "max-rounds": { type: "string" },
    "give-up-after": { type: "string" },
    reason: { type: "string" },
  },
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["vps"]);
    const v = ctx.args.values;
    // Options are checked before any request, so a typo costs no round trip.
    const body = {
      targetNode: stringOpt(v, "to"), // the API takes a node id or name
      maxDowntimeMs: durationMsOpt(v, "max-downtime"),
      bandwidthBytesPerSec: bytesOpt(v, "bandwidth"),
      maxRounds: intOpt(v, "max-rounds", 1, 1000),
      timeoutMs: durationMsOpt(v, "give-up-after"),
      reason: stringOpt(v, "reason"),
    };
    const id = await vpsId(ctx.api, ref!);
    let m = await ctx.api.post<Migration>(`/v1/vps/${id}/migrate`, body, idempotencyKey(ctx));
    if (flag(v, "wait")) {
      const first = m;
      m = await waitFor(
        ctx,
        { what: `migration ${m.id}`, follow: `skiff migrations get ${m.id}` },
        () => ctx.api.get<Migration>(`/v1/migrations/${first.id}`),
        (x) => TERMINAL_MIGRATION_STATES.has(x.state),
      );
    }
    const names = ctx.json ? new Map<string, string>() : await nodeNames(ctx.api);
    const waited = flag(v, "wait");
    emit(ctx, m, () => (waited ? describeMigration(m, names) : migrationStartedLine(m, ref!, names)));
    if (flag(v, "wait") && m.state !== "completed") {
      const why = m.errorCode ? `${m.errorCode}: ${orDash(m.error)}` : orDash(m.error);
      throw new ApiError(0, "MIGRATION_NOT_COMPLETED", `migration ${m.id} ended ${m.state}: ${why}`);
    }
    return 0;
  },
};

const consoleCmd: Command = {
  path: ["vps", "console"],
  usage: "<vps> [--read-only] [--no-replay]",
  summary: "attach the terminal to a VPS's serial console (Ctrl-] quits)",
  details: [
    "  --read-only   watch without typing",
    "  --no-replay   skip the replay of the recent screen",
    "  On a terminal every key (Ctrl-C too) goes to the VPS; Ctrl-] quits.",
    "  Without a terminal on stdin, its bytes are sent as typed and the console closes at its end.",
  ].join("\n"),
  options: { "read-only": { type: "boolean" }, "no-replay": { type: "boolean" } },
  async run(ctx) {
    const [ref] = positionals(ctx.args, ["vps"]);
    const id = await vpsId(ctx.api, ref!);
    // Loaded on use: the WebSocket library is most of a cold start, and only the console needs it.
    const { runConsole } = await import("./console.js");
    return runConsole(ctx, id, {
      readOnly: flag(ctx.args.values, "read-only"),
      replay: !flag(ctx.args.values, "no-replay"),
    });
  },
};

export const vpsCommands: Command[] = [
  list,
  get,
  create,
  del,
  ...VPS_ACTIONS.map(actionCommand),
  migrate,
  consoleCmd,
];
