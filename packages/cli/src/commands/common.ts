import { setTimeout as sleep } from "node:timers/promises";
import { durationMsOpt, flag, intOpt, type OptionSpec, stringOpt } from "../args.js";
import { ApiError, type Page, type Query } from "../client.js";
import { type Context, emit } from "../command.js";

/** Options of every list command. */
export const LIST_OPTIONS = {
  limit: { type: "string" },
  cursor: { type: "string" },
  all: { type: "boolean" },
} as const satisfies OptionSpec;

export const LIST_HELP =
  "  --limit N     page size (1-500, default 50)   --cursor C   the page after C   --all   every page";

/** Options of commands that change something. */
export const MUTATE_OPTIONS = {
  "idempotency-key": { type: "string" },
} as const satisfies OptionSpec;

export const WAIT_OPTIONS = {
  wait: { type: "boolean", short: "w" },
  timeout: { type: "string" },
} as const satisfies OptionSpec;

export function idempotencyKey(ctx: Context): string | undefined {
  return stringOpt(ctx.args.values, "idempotency-key");
}

/** One page (or, with --all, every page) of a list; the human form is a table. */
export async function listCommand<T>(
  ctx: Context,
  path: string,
  query: Query,
  render: (items: T[]) => string,
  empty: string,
): Promise<number> {
  const v = ctx.args.values;
  const page: Page<T> = flag(v, "all")
    ? await ctx.api.all<T>(path, query)
    : await ctx.api.get<Page<T>>(path, {
        ...query,
        limit: intOpt(v, "limit", 1, 500),
        cursor: stringOpt(v, "cursor"),
      });
  emit(ctx, page, () => (page.items.length === 0 ? `${empty}\n` : render(page.items)));
  if (!ctx.json && page.nextCursor) ctx.io.err(`(more: --cursor ${page.nextCursor}, or --all)\n`);
  return 0;
}

/**
 * Polls `fetch` until `done` says so, for --wait. The API answers at once (202) and works in the
 * background; people at a terminal usually want to see the end.
 */
export async function waitFor<T>(
  ctx: Context,
  what: string,
  fetch: () => Promise<T>,
  done: (value: T) => boolean,
  defaultTimeoutMs = 300_000,
): Promise<T> {
  const timeoutMs = durationMsOpt(ctx.args.values, "timeout") ?? defaultTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  let delay = 250;
  for (;;) {
    const value = await fetch();
    if (done(value)) return value;
    if (Date.now() + delay > deadline) {
      throw new ApiError(0, "WAIT_TIMEOUT", `gave up waiting for ${what} after ${timeoutMs} ms`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 2000);
  }
}
