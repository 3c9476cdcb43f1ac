import { positionals, stringOpt, UsageError } from "../args.js";
import { type Command, type Context, emit } from "../command.js";
import { describe, orDash, shortId, table } from "../format.js";
import { idempotencyKey, MUTATE_OPTIONS } from "./common.js";

/**
 * The balancer (issue 5): operators enable or disable it, choose its mode and thresholds, see the
 * score per node and a dry-run plan. Its routes are /v1/balancer (GET status, PATCH settings) and
 * /v1/balancer/plan (the dry run). Their shapes are still settling, so output is rendered from
 * whatever fields are there; --json shows the API's answer as is.
 */

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function num(v: unknown, digits = 3): string {
  return typeof v === "number" ? String(Math.round(v * 10 ** digits) / 10 ** digits) : orDash(v);
}

/** Per-node scores, when the answer carries them as an array of objects. */
function nodeScores(nodes: unknown): string {
  if (!Array.isArray(nodes) || nodes.length === 0 || !nodes.every(isObject)) return "";
  return table(nodes, [
    { header: "node", value: (n) => orDash(n.name ?? n.nodeName ?? shortId(String(n.nodeId ?? n.id ?? ""))) },
    { header: "score", value: (n) => num(n.score ?? n.load), align: "right" },
    { header: "vps", value: (n) => orDash(n.vpsCount), align: "right" },
    { header: "cpu", value: (n) => num(n.cpu ?? n.cpuLoad), align: "right" },
    { header: "memory", value: (n) => num(n.memory ?? n.memoryLoad), align: "right" },
  ]);
}

export function renderBalancerStatus(s: Json): string {
  const { nodes, ...rest } = s;
  const scores = nodeScores(nodes);
  return describe(scores ? rest : s) + (scores ? `\n${scores}` : "");
}

export function renderBalancerPlan(p: Json): string {
  const { moves, ...rest } = p;
  const out = [describe(rest)];
  if (Array.isArray(moves)) {
    if (moves.length === 0) out.push("No moves: the cluster is balanced enough.\n");
    else if (moves.every(isObject)) {
      out.push(
        `\n${table(moves, [
          { header: "vps", value: (m) => orDash(m.vpsName ?? shortId(String(m.vpsId ?? ""))) },
          {
            header: "from",
            value: (m) => orDash(m.fromName ?? m.from ?? shortId(String(m.sourceNodeId ?? ""))),
          },
          { header: "to", value: (m) => orDash(m.toName ?? m.to ?? shortId(String(m.targetNodeId ?? ""))) },
          { header: "gain", value: (m) => num(m.improvement ?? m.gain), align: "right" },
          { header: "reason", value: (m) => orDash(m.reason) },
        ])}`,
      );
    }
  }
  return out.join("");
}

const SETTINGS = {
  mode: { type: "string" },
  threshold: { type: "string" },
  "min-improvement": { type: "string" },
  "max-concurrent": { type: "string" },
} as const;

function settings(ctx: Context): Json {
  const v = ctx.args.values;
  const mode = stringOpt(v, "mode");
  if (mode !== undefined && mode !== "spread" && mode !== "pack") {
    throw new UsageError(`--mode must be spread or pack, got '${mode}'`);
  }
  const number = (name: string): number | undefined => {
    const s = stringOpt(v, name);
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0)
      throw new UsageError(`--${name} must be a non-negative number, got '${s}'`);
    return n;
  };
  const out: Json = {
    mode,
    threshold: number("threshold"),
    minImprovement: number("min-improvement"),
    maxConcurrent: number("max-concurrent"),
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

const status: Command = {
  path: ["balancer", "status"],
  usage: "",
  summary: "the balancer's settings, the cluster score and the score per node (operators)",
  async run(ctx) {
    positionals(ctx.args, []);
    const s = await ctx.api.get<Json>("/v1/balancer");
    emit(ctx, s, () => renderBalancerStatus(s));
    return 0;
  },
};

function toggle(enabled: boolean): Command {
  return {
    path: ["balancer", enabled ? "enable" : "disable"],
    usage: enabled ? "[--mode spread|pack] [--threshold X] [--min-improvement X] [--max-concurrent N]" : "",
    summary: enabled
      ? "let the balancer move VPSes on its own (and set its knobs)"
      : "stop the balancer moving VPSes",
    options: { ...MUTATE_OPTIONS, ...(enabled ? SETTINGS : {}) },
    async run(ctx) {
      positionals(ctx.args, []);
      const body = { enabled, ...(enabled ? settings(ctx) : {}) };
      const s = await ctx.api.patch<Json>("/v1/balancer", body, idempotencyKey(ctx));
      emit(ctx, s, () => renderBalancerStatus(s));
      return 0;
    },
  };
}

const plan: Command = {
  path: ["balancer", "plan"],
  usage: "[--mode spread|pack]",
  summary: "dry run: the moves the balancer would make, with the score before and after",
  options: { mode: SETTINGS.mode },
  async run(ctx) {
    positionals(ctx.args, []);
    const p = await ctx.api.get<Json>("/v1/balancer/plan", {
      mode: settings(ctx).mode as string | undefined,
    });
    emit(ctx, p, () => renderBalancerPlan(p));
    return 0;
  },
};

export const balancerCommands: Command[] = [status, toggle(true), toggle(false), plan];
