import { type ParseArgsConfig, parseArgs } from "node:util";
import { SkiffError } from "@skiff/common";

/** A mistake in how skiff was called (exit status 2), as opposed to an error the API answered. */
export class UsageError extends SkiffError {
  constructor(message: string) {
    super("USAGE", message);
    this.name = "UsageError";
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;
export type OptionValues = Record<string, string | boolean | undefined>;

/** Options every command accepts, wherever they appear on the line. */
export const GLOBAL_OPTIONS = {
  json: { type: "boolean" },
  token: { type: "string" },
  api: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpec;

export interface ParsedArgs {
  readonly values: OptionValues;
  readonly positionals: string[];
}

/** Parses one command's arguments (its own options plus the global ones); bad input is a UsageError. */
export function parseCommandArgs(argv: readonly string[], options: OptionSpec): ParsedArgs {
  try {
    const r = parseArgs({
      args: [...argv],
      options: { ...GLOBAL_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values as OptionValues, positionals: r.positionals };
  } catch (err) {
    // node:util's messages are good ("Unknown option '--x'") but carry a long hint we do not need.
    const msg = (err as Error).message.split(". To specify")[0]!.replace(/\.$/, "");
    throw new UsageError(msg);
  }
}

/**
 * Splits the global options from the words naming a command, so `skiff --json vps list` and
 * `skiff vps list --json` mean the same. Returns the leading words (before any other option).
 */
export function commandWords(argv: readonly string[], maxWords: number): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < maxWords; i++) {
    const a = argv[i]!;
    if (a === "--") break;
    if (a.startsWith("-")) {
      // A global option taking a value swallows the next word (`--token X vps list`).
      const name = a.replace(/^--?/, "").split("=")[0]!;
      if ((name === "token" || name === "api") && !a.includes("=")) i++;
      continue;
    }
    words.push(a);
  }
  return words;
}

/** Removes the first occurrence of each of `words` (the command path) from argv. */
export function withoutWords(argv: readonly string[], words: readonly string[]): string[] {
  const out = [...argv];
  let from = 0;
  for (const w of words) {
    let i = from;
    for (; i < out.length; i++) {
      const a = out[i]!;
      if (a === w) break;
      const name = a.replace(/^--?/, "").split("=")[0]!;
      if (a.startsWith("-") && (name === "token" || name === "api") && !a.includes("=")) i++;
    }
    if (i < out.length) {
      out.splice(i, 1);
      from = i;
    }
  }
  return out;
}

export function stringOpt(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** A non-negative integer option, e.g. --max-downtime 50. */
export function intOpt(values: OptionValues, name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  const v = stringOpt(values, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** A duration option in milliseconds: 50, 50ms, 2s, 1m. */
export function durationMsOpt(values: OptionValues, name: string): number | undefined {
  const v = stringOpt(values, name);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a duration like 50, 50ms, 2s or 1m, got '${v}'`);
  const scale = m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 1;
  return Math.round(Number(m[1]) * scale);
}

/** A size option in bytes: 1048576, 512K, 64M, 2G (binary units). */
export function bytesOpt(values: OptionValues, name: string): number | undefined {
  const v = stringOpt(values, name);
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a size like 1048576, 512K, 64M or 2G, got '${v}'`);
  const unit = (m[2] ?? "").charAt(0).toUpperCase();
  const scale = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[unit] ?? 1;
  return Math.round(Number(m[1]) * scale);
}

/** Exactly the named positionals, in order; a missing or extra one is a UsageError. */
export function positionals(parsed: ParsedArgs, names: readonly string[], optional = 0): string[] {
  const p = parsed.positionals;
  const required = names.length - optional;
  if (p.length < required) throw new UsageError(`missing ${names[p.length]}`);
  if (p.length > names.length) throw new UsageError(`unexpected argument '${p[names.length]}'`);
  return p;
}
