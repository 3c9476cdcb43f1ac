import { isSkiffError } from "@skiff/common";
import { commandWords, flag, parseCommandArgs, stringOpt, UsageError, withoutWords } from "./args.js";
import { ApiClient, ApiError } from "./client.js";
import type { Io } from "./command.js";
import { resolveConnection } from "./config.js";
import { commandHelp, generalHelp, usageLine } from "./help.js";
import { lookup } from "./registry.js";

/** Exit statuses: 0 done, 1 the API (or the network) said no, 2 skiff was called wrongly. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

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

/**
 * Runs one skiff command line and returns its exit status. Never throws: API errors print as
 * `skiff: CODE: message` (1), usage errors as `skiff: message` with the usage line (2), and
 * anything else (a bug) as `skiff: INTERNAL: ...` (1) rather than a stack trace.
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const found = lookup(commandWords(argv, 2));
  const rest = withoutWords(argv, found.words);
  const wantsHelp = rest.includes("--help") || rest.includes("-h");
  if (!found.command) {
    if (found.group || argv.length === 0 || argv[0] === "help" || wantsHelp) {
      const unknown = found.group && rest.find((a) => !a.startsWith("-"));
      io[unknown ? "err" : "out"](generalHelp(found.group));
      if (unknown) io.err(`skiff: unknown command '${found.group} ${unknown}'\n`);
      return unknown || (found.group && !wantsHelp) ? EXIT.usage : EXIT.ok;
    }
    io.err(
      `skiff: unknown command '${argv.find((a) => !a.startsWith("-")) ?? argv[0]}' (see \`skiff help\`)\n`,
    );
    return EXIT.usage;
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
    const api = new ApiClient({ baseUrl: conn.baseUrl, token: conn.token, source: conn.source });
    return (await command.run({ api, io, json: flag(args.values, "json"), args })) ?? EXIT.ok;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`skiff: ${err.message}\n${usageLine(command)}\n`);
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      io.err(formatError(err));
      return EXIT.failed;
    }
    const code = isSkiffError(err) ? err.code : "INTERNAL";
    io.err(`skiff: ${code}: ${(err as Error)?.message ?? String(err)}\n`);
    return EXIT.failed;
  }
}
