import { SkiffError } from "./errors.js";

/**
 * Typed configuration from environment variables. Each field declares its variable, its parser and
 * its default; a bad value fails fast with a message naming the variable. The same description
 * renders the configuration reference in docs (see `describeConfig`).
 */
export interface ConfigField<T> {
  readonly env: string;
  readonly description: string;
  readonly default: T | undefined;
  parse(raw: string): T;
  /** How the default is shown in docs (secrets and computed defaults describe themselves). */
  readonly shownDefault?: string;
}

type Parser<T> = (raw: string) => T;

function field<T>(parse: Parser<T>) {
  return (env: string, description: string, def?: T, shownDefault?: string): ConfigField<T> => ({
    env,
    description,
    default: def,
    parse,
    shownDefault,
  });
}

export const str = field<string>((raw) => raw);

const isInteger = (raw: string): boolean => /^-?\d+$/.test(raw.trim());

export const int = field<number>((raw) => {
  if (!isInteger(raw)) throw new Error(`expected an integer, got "${raw}"`);
  return Number(raw);
});

/** An integer from `min` to `max`. */
export function intIn(min: number, max: number) {
  return field<number>((raw) => {
    const n = Number(raw);
    if (!isInteger(raw) || n < min || n > max)
      throw new Error(`expected an integer ${min}-${max}, got "${raw}"`);
    return n;
  });
}

export const port = field<number>((raw) => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < 0 || n > 65535)
    throw new Error(`expected a port 0-65535, got "${raw}"`);
  return n;
});

export const bool = field<boolean>((raw) => {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new Error(`expected true/false, got "${raw}"`);
});

/** Sizes like 128M, 2G, 4096 (bytes) → bytes. */
export const bytes = field<number>((raw) => parseByteSize(raw));

export function oneOf<const T extends string>(values: readonly T[]) {
  return field<T>((raw) => {
    if (!(values as readonly string[]).includes(raw)) {
      throw new Error(`expected one of ${values.join(", ")}, got "${raw}"`);
    }
    return raw as T;
  });
}

export function parseByteSize(raw: string): number {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(raw.trim());
  if (!m) throw new Error(`expected a size like 128M or 2G, got "${raw}"`);
  const mult: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  return Number(m[1]) * (mult[(m[2] ?? "").toLowerCase()] ?? 1);
}

export type ConfigSpec = Record<string, ConfigField<unknown>>;
export type ConfigOf<S extends ConfigSpec> = {
  readonly [K in keyof S]: S[K] extends ConfigField<infer T> ? T : never;
};

export function loadConfig<S extends ConfigSpec>(
  spec: S,
  env: Record<string, string | undefined> = process.env,
): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(spec)) {
    const raw = env[f.env];
    if (raw === undefined || raw === "") {
      if (f.default === undefined) {
        throw new SkiffError("CONFIG_MISSING", `${f.env} is required: ${f.description}`, { variable: f.env });
      }
      out[key] = f.default;
      continue;
    }
    try {
      out[key] = f.parse(raw);
    } catch (err) {
      throw new SkiffError("CONFIG_INVALID", `${f.env}: ${(err as Error).message}`, { variable: f.env });
    }
  }
  return out as ConfigOf<S>;
}

/** A Markdown table of the variables, for the operator guide. */
export function describeConfig(title: string, spec: ConfigSpec): string {
  const rows = Object.values(spec).map((f) => {
    const def = f.shownDefault ?? (f.default === undefined ? "(required)" : `\`${String(f.default)}\``);
    return `| \`${f.env}\` | ${def} | ${f.description} |`;
  });
  return [`### ${title}`, "", "| variable | default | meaning |", "|---|---|---|", ...rows, ""].join("\n");
}
