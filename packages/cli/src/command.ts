import type { OptionSpec, ParsedArgs } from "./args.js";
import type { ApiClient } from "./client.js";

/** Where a command writes and what it may read: the real process, or a test's buffers. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
  /** Terminal streams, for `vps console` (absent in tests that do not need them). */
  readonly stdin?: NodeJS.ReadStream;
  readonly stdout?: NodeJS.WriteStream;
  /** Stands for Ctrl-C in tests; without it a --wait listens for SIGINT itself. */
  readonly interrupt?: AbortSignal;
}

export interface Context {
  readonly api: ApiClient;
  readonly io: Io;
  /** --json: print the API's JSON answer as is, for scripts. */
  readonly json: boolean;
  readonly args: ParsedArgs;
}

export interface Command {
  /** The words that name it: ["vps", "list"], or ["plans"]. */
  readonly path: readonly string[];
  /** Arguments after the path, for help: "<vps> [--to NODE]". */
  readonly usage: string;
  readonly summary: string;
  /** Extra lines of help (options explained, examples). */
  readonly details?: string;
  readonly options?: OptionSpec;
  /** Left out of the command list (aliases such as `plans list` for `plans`). */
  readonly hidden?: boolean;
  /** Returns the exit status (0 unless the command decides otherwise). */
  run(ctx: Context): Promise<number | undefined>;
}

/** Prints `value` as JSON (--json) or as the human rendering. */
export function emit(ctx: Context, value: unknown, human: () => string): void {
  ctx.io.out(ctx.json ? `${JSON.stringify(value, null, 2)}\n` : human());
}
