import { setTimeout as sleep } from "node:timers/promises";
import { durationMsOpt, flag, positionals, stringOpt, UsageError } from "../args.js";
import type { Page } from "../client.js";
import type { Command, Context } from "../command.js";
import { shortId } from "../format.js";
import { vpsId, vpsNames } from "../resolve.js";
import type { SkiffEvent } from "../types.js";
import { LIST_HELP, LIST_OPTIONS, listCommand } from "./common.js";

/**
 * "2025-01-02T03:04:05.678Z  vps/web-1  vps.state  running → stopping  message": a VPS by its name
 * when `vpsNames` knows it, anything else by its short id.
 */
export function eventLine(e: SkiffEvent, vpsNames: ReadonlyMap<string, string> = new Map()): string {
  const name = e.resourceType === "vps" ? vpsNames.get(e.resourceId) : undefined;
  const parts = [e.at, `${e.resourceType}/${name ?? shortId(e.resourceId)}`, e.type];
  if (e.fromState || e.toState) parts.push(`${e.fromState ?? "·"} → ${e.toState ?? "·"}`);
  if (e.message) parts.push(e.message.replace(/\s+/g, " "));
  return `${parts.join("  ")}\n`;
}

function vpsIdsOf(events: readonly SkiffEvent[]): string[] {
  return events.filter((e) => e.resourceType === "vps").map((e) => e.resourceId);
}

/**
 * --since accepts an ISO time or a duration back from now ("10m", "2h", "1d"); the API wants ISO.
 */
export function sinceToIso(value: string, now = Date.now()): string {
  const m = /^(\d+)(s|m|h|d)$/.exec(value.trim());
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
    return new Date(now - Number(m[1]) * unit).toISOString();
  }
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new UsageError(`--since must be a time (ISO 8601) or a duration like 10m, got '${value}'`);
  return new Date(t).toISOString();
}

async function filters(ctx: Context) {
  const v = ctx.args.values;
  const vps = stringOpt(v, "vps");
  const since = stringOpt(v, "since");
  if (vps && stringOpt(v, "resource")) throw new UsageError("--vps and --resource exclude each other");
  return {
    resourceType: vps ? "vps" : stringOpt(v, "resource-type"),
    resourceId: vps ? await vpsId(ctx.api, vps) : stringOpt(v, "resource"),
    type: stringOpt(v, "type"),
    projectId: stringOpt(v, "project"),
    since: since ? sinceToIso(since) : undefined,
  };
}

/**
 * What --follow prints of each poll. Event ids are taken when a transaction inserts but become
 * visible when it commits, so a longer transaction's event can appear after later ids were
 * printed: following by id alone would skip it. So each poll re-reads a trailing window (by the
 * event's time: its transaction's start in PostgreSQL) and this prints only ids not printed yet.
 */
export class EventFollower {
  private readonly printed = new Map<string, number>();
  private newest: number;

  constructor(
    private readonly start: number,
    private readonly windowMs = 10_000,
  ) {
    this.newest = start;
  }

  /** Where the next poll starts (ms since the epoch). */
  get from(): number {
    return Math.max(this.start, this.newest - this.windowMs);
  }

  /** The events of a page not printed before, in the page's order. */
  take(items: readonly SkiffEvent[]): SkiffEvent[] {
    const fresh: SkiffEvent[] = [];
    for (const e of items) {
      const at = Date.parse(e.at);
      this.newest = Math.max(this.newest, at);
      if (this.printed.has(e.id)) continue;
      this.printed.set(e.id, at);
      fresh.push(e);
    }
    return fresh;
  }

  /** Forgets ids that fell out of the window (they are never read again). */
  prune(): void {
    const from = this.from;
    for (const [id, at] of this.printed) if (at < from) this.printed.delete(id);
  }
}

/** Follows the log from --since (or now) until interrupted, each event printed once. */
async function follow(ctx: Context): Promise<number> {
  const query = await filters(ctx);
  const intervalMs = durationMsOpt(ctx.args.values, "interval") ?? 1000;
  const follower = new EventFollower(Date.parse(query.since ?? new Date().toISOString()));
  const names = new Map<string, string>();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    while (!stop.signal.aborted) {
      const since = new Date(follower.from).toISOString();
      let afterId: string | undefined;
      do {
        const page = await ctx.api.get<Page<SkiffEvent>>("/v1/events", {
          ...query,
          since,
          afterId,
          limit: 500,
        });
        const fresh = follower.take(page.items);
        if (!ctx.json) await vpsNames(ctx.api, vpsIdsOf(fresh), names);
        for (const e of fresh) ctx.io.out(ctx.json ? `${JSON.stringify(e)}\n` : eventLine(e, names));
        afterId = page.nextCursor ?? undefined;
      } while (afterId && !stop.signal.aborted);
      follower.prune();
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return 0;
}

const events: Command = {
  path: ["events"],
  usage: "[--follow] [--vps VPS | --resource ID] [--resource-type T] [--type T] [--since 10m|ISO]",
  summary: "the audit log and state changes, oldest first; --follow keeps printing new ones",
  details: [
    "  --follow, -f     print events as they happen (from --since, default now) until Ctrl-C",
    "  --vps VPS        events of one VPS (id or name); --resource ID for any resource",
    "  --since 10m      only events after a time: ISO 8601, or s/m/h/d back from now",
    "  --interval 1s    with --follow: how often to ask for new events",
    "  --json           with --follow: one JSON object per line",
    LIST_HELP,
  ].join("\n"),
  options: {
    ...LIST_OPTIONS,
    follow: { type: "boolean", short: "f" },
    interval: { type: "string" },
    vps: { type: "string" },
    resource: { type: "string" },
    "resource-type": { type: "string" },
    type: { type: "string" },
    project: { type: "string" },
    since: { type: "string" },
  },
  async run(ctx) {
    positionals(ctx.args, []);
    if (flag(ctx.args.values, "follow")) return follow(ctx);
    return listCommand<SkiffEvent>(
      ctx,
      "/v1/events",
      await filters(ctx),
      async (items) => {
        const names = await vpsNames(ctx.api, vpsIdsOf(items));
        return items.map((e) => eventLine(e, names)).join("");
      },
      "No events.",
    );
  },
};

export const eventCommands: Command[] = [events];
