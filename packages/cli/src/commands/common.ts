import { setTimeout as sleep } from "node:timers/promises";
import { SkiffError } from "@skiff/common";
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
  render: (items: T[]) => string | Promise<string>,
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
  const human = ctx.json || page.items.length === 0 ? `${empty}\n` : await render(page.items);
  emit(ctx, page, () => human);
  if (!ctx.json && page.nextCursor) ctx.io.err(`(more: --cursor ${page.nextCursor}, or --all)\n`);
  return 0;
}

/** What a --wait waits for, and the command that follows it when the wait is cut short. */
export interface WaitSpec {
  readonly what: string;
  /** e.g. "skiff vps get web-1": said when Ctrl-C stops the wait (the work goes on). */
  readonly follow: string;
  readonly defaultTimeoutMs?: number;
}

/** Ctrl-C while waiting: the API goes on with the work, only skiff stopped watching (exit 130). */
export class WaitInterrupted extends SkiffError {
  constructor(spec: WaitSpec) {
    super(
      "INTERRUPTED",
      `stopped waiting; ${spec.what} goes on in the background (follow it with \`${spec.follow}\`)`,
    );
  }
}

/** Aborts on Ctrl-C (or on the test's own signal, io.interrupt). */
export function interruption(ctx: Context): { signal: AbortSignal; release: () => void } {
  if (ctx.io.interrupt) return { signal: ctx.io.interrupt, release: () => undefined };
  const c = new AbortController();
  const abort = () => c.abort();
  process.once("SIGINT", abort);
  return { signal: c.signal, release: () => process.off("SIGINT", abort) };
}

/**
 * Polls `fetch` until `done` says so, for --wait. The API answers at once (202) and works in the
 * background; people at a terminal usually want to see the end.
 */
export async function waitFor<T>(
  ctx: Context,
  spec: WaitSpec,
  fetch: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<T> {
  const timeoutMs = durationMsOpt(ctx.args.values, "timeout") ?? spec.defaultTimeoutMs ?? 300_000;
  const deadline = Date.now() + timeoutMs;
  const { signal, release } = interruption(ctx);
  let delay = 250;
  // Ctrl-C answers at once, even while a poll is in flight (the API may be slow to answer it).
  const interrupted = new Promise<never>((_, reject) => {
    const stop = () => reject(new WaitInterrupted(spec));
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  });
  interrupted.catch(() => undefined); // handled where it is raced; never "unhandled"
  try {
    for (;;) {
      const value = await Promise.race([fetch(), interrupted]);
      if (done(value)) return value;
      if (Date.now() + delay > deadline) {
        throw new ApiError(0, "WAIT_TIMEOUT", `gave up waiting for ${spec.what} after ${timeoutMs} ms`);
      }
      await Promise.race([sleep(delay, undefined, { signal }).catch(() => undefined), interrupted]);
      delay = Math.min(delay * 2, 2000);
    }
  } finally {
    release();
  }
}
