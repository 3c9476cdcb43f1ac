import { flag, positionals, stringOpt, UsageError } from "../args.js";
import { type Command, type Context, emit } from "../command.js";
import { describe, formatBytes, table } from "../format.js";
import type { BalancerMove, BalancerPlan, BalancerStuck, BalancerView, DryRun } from "../types.js";
import { idempotencyKey, MUTATE_OPTIONS } from "./common.js";

/**
 * The balancer, for operators: GET /v1/balancer (settings, state, score per node),
 * PUT /v1/balancer (any subset of the settings), POST /v1/balancer/plan (a dry run).
 */

function n3(x: number): string {
  return (Math.round(x * 1000) / 1000).toString();
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export function renderBalancerView(b: BalancerView): string {
  const s = b.settings;
  const head = [
    `balancer:   ${s.enabled ? "enabled" : "disabled"}, mode ${s.mode}${b.state.balancing ? " (balancing)" : ""}`,
    `score:      ${n3(b.score.current)} (threshold ${n3(b.score.threshold)}, stops under ${n3(b.score.floor)}; spread ${n3(b.score.spread)}, pack ${n3(b.score.pack)}, group penalty ${n3(b.score.penalty)})`,
    `last round: ${b.state.lastRunAt ?? "never"}${b.state.lastScore !== null ? `, score ${n3(b.state.lastScore)}` : ""}`,
    "",
  ].join("\n");
  const nodes =
    b.nodes.length === 0
      ? "No nodes.\n"
      : table(b.nodes, [
          { header: "node", value: (x) => x.name },
          { header: "status", value: (x) => (x.maintenance ? `${x.status},maintenance` : x.status) },
          { header: "vps", value: (x) => String(x.vpsCount), align: "right" },
          { header: "cpu", value: (x) => pct(x.cpu), align: "right" },
          { header: "memory", value: (x) => pct(x.memory), align: "right" },
          {
            header: "dirty rate",
            value: (x) => `${formatBytes(x.dirtyPagesPerSec * 4096)}/s`,
            align: "right",
          },
          {
            header: "deviation",
            value: (x) => (x.active ? `${x.deviation >= 0 ? "+" : ""}${n3(x.deviation)}` : "(not counted)"),
            align: "right",
          },
        ]);
  const settings = describe({ ...s } as Record<string, unknown>);
  return `${head}\n${nodes}\nsettings:\n${settings.replace(/^/gm, "  ")}`;
}

function moveTable(moves: readonly BalancerMove[]): string {
  return table(moves, [
    { header: "vps", value: (m) => m.vpsName },
    { header: "from", value: (m) => m.fromNode },
    { header: "to", value: (m) => m.toNode },
    { header: "score", value: (m) => `${n3(m.scoreBefore)} → ${n3(m.scoreAfter)}`, align: "right" },
    { header: "gain", value: (m) => n3(m.gain), align: "right" },
    { header: "est.", value: (m) => `${Math.ceil(m.estimatedSeconds)}s`, align: "right" },
    { header: "reason", value: (m) => m.reason },
  ]);
}

function stuckLines(title: string, xs: readonly BalancerStuck[]): string {
  return xs.length === 0 ? "" : `${title}:\n${xs.map((x) => `  ${x.vpsName}: ${x.reason}\n`).join("")}`;
}

function planSummary(p: BalancerPlan): string {
  const skipped = Object.entries(p.skipped)
    .filter(([, k]) => k > 0)
    .map(([why, k]) => `${why} ${k}`)
    .join(", ");
  return (
    `score ${n3(p.scoreBefore)} → ${n3(p.scoreAfter)} in ${p.moves.length} move${p.moves.length === 1 ? "" : "s"} ` +
    `(mode ${p.mode}, threshold ${n3(p.threshold)}, floor ${n3(p.floor)}): ${p.outcome}` +
    (skipped ? `; skipped: ${skipped}` : "")
  );
}

export function renderDryRun(d: DryRun): string {
  const out = [`plan:       ${planSummary(d.plan)}\n`, `next round: ${planSummary(d.nextRound)}\n`];
  if (d.plan.moves.length > 0) out.push(`\n${moveTable(d.plan.moves)}`);
  else out.push("\nNo moves: the cluster is balanced enough.\n");
  if (d.drain.moves.length + d.drain.waiting.length + d.drain.blocked.length > 0) {
    out.push("\ndraining nodes:\n");
    if (d.drain.moves.length > 0) out.push(moveTable(d.drain.moves));
    out.push(stuckLines("waiting", d.drain.waiting), stuckLines("blocked", d.drain.blocked));
  }
  return out.join("");
}

const SETTINGS_OPTIONS = {
  mode: { type: "string" },
  threshold: { type: "string" },
  "min-improvement": { type: "string" },
  hysteresis: { type: "string" },
  cooldown: { type: "string" },
  "max-moves": { type: "string" },
  "max-concurrent": { type: "string" },
  "max-per-node": { type: "string" },
  "pack-max": { type: "string" },
} as const;

const SETTINGS_HELP = [
  "  --mode spread|pack      spread load (performance) or pack VPSes (free whole nodes)",
  "  --threshold X           act when the score is above X (0-1)",
  "  --min-improvement X     skip moves that gain less than X",
  "  --hysteresis X          once started, go on until the score is under threshold*(1-X)",
  "  --cooldown S            seconds before the same VPS may move again",
  "  --max-moves N           moves started per round     --max-concurrent N   migrations in flight",
  "  --max-per-node N        migrations in flight per node",
  "  --pack-max X            pack mode: fill nodes up to this share (0-1)",
].join("\n");

/** The settings patch the options describe (only those given). */
export function settingsPatch(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const v = values;
  const mode = stringOpt(v, "mode");
  if (mode !== undefined && mode !== "spread" && mode !== "pack") {
    throw new UsageError(`--mode must be spread or pack, got '${mode}'`);
  }
  const num = (name: string, integer: boolean): number | undefined => {
    const s = stringOpt(v, name);
    if (s === undefined) return undefined;
    const x = Number(s);
    if (s.trim() === "" || !Number.isFinite(x) || x < 0 || (integer && !Number.isInteger(x))) {
      throw new UsageError(
        `--${name} must be a non-negative ${integer ? "whole number" : "number"}, got '${s}'`,
      );
    }
    return x;
  };
  const patch: Record<string, unknown> = {
    mode,
    threshold: num("threshold", false),
    minImprovement: num("min-improvement", false),
    hysteresis: num("hysteresis", false),
    cooldownSeconds: num("cooldown", true),
    maxMovesPerRound: num("max-moves", true),
    maxConcurrent: num("max-concurrent", true),
    maxConcurrentPerNode: num("max-per-node", true),
    packMaxUtilization: num("pack-max", false),
  };
  for (const k of Object.keys(patch)) if (patch[k] === undefined) delete patch[k];
  return patch;
}

const status: Command = {
  path: ["balancer", "status"],
  usage: "",
  summary: "the balancer's settings, the cluster score and the score per node (operators)",
  async run(ctx) {
    positionals(ctx.args, []);
    const b = await ctx.api.get<BalancerView>("/v1/balancer");
    emit(ctx, b, () => renderBalancerView(b));
    return 0;
  },
};

async function put(ctx: Context, body: Record<string, unknown>): Promise<number> {
  const b = await ctx.api.request<BalancerView>("PUT", "/v1/balancer", {
    body,
    idempotencyKey: idempotencyKey(ctx),
  });
  emit(ctx, b, () => renderBalancerView(b));
  return 0;
}

const enable: Command = {
  path: ["balancer", "enable"],
  usage: "[--mode spread|pack] [--threshold X] [...settings]",
  summary: "let the balancer move VPSes on its own (and set its knobs)",
  details: SETTINGS_HELP,
  options: { ...MUTATE_OPTIONS, ...SETTINGS_OPTIONS },
  async run(ctx) {
    positionals(ctx.args, []);
    return put(ctx, { enabled: true, ...settingsPatch(ctx.args.values) });
  },
};

const disable: Command = {
  path: ["balancer", "disable"],
  usage: "",
  summary: "stop the balancer starting moves (drains still proceed)",
  options: MUTATE_OPTIONS,
  async run(ctx) {
    positionals(ctx.args, []);
    return put(ctx, { enabled: false });
  },
};

const set: Command = {
  path: ["balancer", "set"],
  usage: "[--mode spread|pack] [--threshold X] [...settings]",
  summary: "change the balancer's settings without enabling or disabling it",
  details: SETTINGS_HELP,
  options: { ...MUTATE_OPTIONS, ...SETTINGS_OPTIONS },
  async run(ctx) {
    positionals(ctx.args, []);
    const patch = settingsPatch(ctx.args.values);
    if (Object.keys(patch).length === 0) throw new UsageError("give at least one setting (see --help)");
    return put(ctx, patch);
  },
};

const plan: Command = {
  path: ["balancer", "plan"],
  usage: "[--force] [--mode spread|pack] [...settings]",
  summary: "dry run: the moves the balancer would make, with the score before and after",
  details: [
    "  Nothing moves. Settings given here apply to this plan only.",
    "  --force   plan even when the score is under the threshold",
    SETTINGS_HELP,
  ].join("\n"),
  options: { ...SETTINGS_OPTIONS, force: { type: "boolean" } },
  async run(ctx) {
    positionals(ctx.args, []);
    const body = {
      ...settingsPatch(ctx.args.values),
      ...(flag(ctx.args.values, "force") ? { force: true } : {}),
    };
    const d = await ctx.api.post<DryRun>("/v1/balancer/plan", body);
    emit(ctx, d, () => renderDryRun(d));
    return 0;
  },
};

export const balancerCommands: Command[] = [status, enable, disable, set, plan];
