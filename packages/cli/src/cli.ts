import { isSkiffError } from "@skiff/common";
import { commandWords, flag, parseCommandArgs, stringOpt, UsageError, withoutWords } from "./args.js";
import { ApiClient, ApiError } from "./client.js";
import type { Io } from "./command.js";
import { WaitInterrupted } from "./commands/common.js";
import { resolveConnection } from "./config.js";
import { commandHelp, generalHelp, usageLine } from "./help.js";
import { didYouMean, lookup } from "./registry.js";

/**
 * Exit statuses: 0 done, 1 the API (or the network) said no, 2 skiff was called wrongly, 130 Ctrl-C
 * stopped a wait (the shell's convention for SIGINT).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** `skiff: CODE: message`, plus validation issues one per line (they say which field is wrong). */
export function formatError(err: ApiError): string {
  const lines = [`skiff: ${err.code}: ${err.message}`];
  const issues = err.details?.issues;
  if (Array.isArray(issues)) {
    for (const i of issues as { path?: unknown; message?: unknown }[]) {
      // Paths come as ["a", 0] or as JSON pointers ("/a/0"); people read "a.0".
      const path = (Array.isArray(i.path) ? i.path.join(".") : String(i.path ?? ""))
        .replace(/^\//, "")
        .replaceAll("/", ".");
      lines.push(`  ${path ? `${path}: ` : ""}${String(i.message ?? "")}`);
    }
  }
  if (err.code === "NOT_FOUND" && /^no route /.test(err.message)) {
    lines.push("  (this API does not offer that yet: it may be older than this skiff)");
  }
  return `${lines.join("\n")}\n`;
}

/** --json errors: the API's own shape, `{"error":{code,message,details?}}`, on stderr. */
export function jsonError(code: string, message: string, details?: Record<string, unknown>): string {
  return `${JSON.stringify({ error: { code, message, ...(details ? { details } : {}) } })}\n`;
}

/**
 * Runs one skiff command line and returns its exit status. Never throws: API errors print as
 * `skiff: CODE: message` (1), usage errors as `skiff: message` with the usage line (2), Ctrl-C
 * during a --wait says the work goes on (130), and anything else (a bug) as `skiff: INTERNAL:
 * ...` (1) rather than a stack trace. With --json every error is one JSON object on stderr.
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const found = lookup(commandWords(argv, 2));
  const rest = withoutWords(argv, found.words);
  const wantsHelp = rest.includes("--help") || rest.includes("-h");
  const json = argv.includes("--json");
  const usage = (message: string, more = "") => {
    io.err(json ? jsonError("USAGE", message) : `skiff: ${message}\n${more}`);
    return EXIT.usage;
  };
  if (!found.command) {
    if (found.group || argv.length === 0 || argv[0] === "help" || wantsHelp) {
      const unknown = found.group && rest.find((a) => !a.startsWith("-"));
      if (!unknown || !json) io[unknown ? "err" : "out"](generalHelp(found.group));
      if (unknown) {
        return usage(`unknown command '${found.group} ${unknown}'${didYouMean(`${found.group} ${unknown}`)}`);
      }
      return found.group && !wantsHelp ? EXIT.usage : EXIT.ok;
    }
    const word = argv.find((a) => !a.startsWith("-")) ?? argv[0]!;
    return usage(`unknown command '${word}'${didYouMean(word)} (see \`skiff help\`)`);
  }
  const command = found.command;
  try {
    const args = parseCommandArgs(rest, command.options ?? {});
    if (flag(args.values, "help")) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    const conn = resolveConnection({
      apiFlag: stringOpt(args.values, "api"),
      tokenFlag: stringOpt(args.values, "token"),
      env: io.env,
      cwd: io.cwd,
    });
    const api = new ApiClient(conn);
    return (await command.run({ api, io, json: flag(args.values, "json"), args })) ?? EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message, `${usageLine(command)}\n`);
    if (err instanceof WaitInterrupted) {
      io.err(json ? jsonError(err.code, err.message) : `\nskiff: ${err.message}\n`);
      return EXIT.interrupted;
    }
    if (err instanceof ApiError) {
      io.err(json ? jsonError(err.code, err.message, err.details) : formatError(err));
      return EXIT.failed;
    }
    const code = isSkiffError(err) ? err.code : "INTERNAL";
    const message = (err as Error)?.message ?? String(err);
    io.err(json ? jsonError(code, message) : `skiff: ${code}: ${message}\n`);
    return EXIT.failed;
  }
}
