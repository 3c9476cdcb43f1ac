/** Human output: aligned tables, sizes, ages and key/value views. --json bypasses all of this. */

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  /** Numbers read better right-aligned. */
  readonly align?: "left" | "right";
}

/** Display width of a string (tables hold ASCII plus the occasional arrow or ellipsis). */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, align: "left" | "right"): string {
  const fill = " ".repeat(Math.max(0, w - width(s)));
  return align === "right" ? fill + s : s + fill;
}

/** A table with an upper-case header row and columns two spaces apart, like kubectl's. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => oneLine(c.value(r))));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i]!))));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => pad(v, widths[i]!, columns[i]!.align ?? "left"))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...cells.map(line)].join("\n") + "\n";
}

function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, " ");
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1073741824 → "1 GiB", 1610612736 → "1.5 GiB". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const digits = u === 0 || Number.isInteger(v) || Math.abs(v) >= 100 ? 0 : 1;
  return `${v.toFixed(digits).replace(/\.0$/, "")} ${UNITS[u]}`;
}

/** Elapsed time in the largest unit that fits: "45s", "12m", "3h", "5d". */
export function formatAge(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "-";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "-";
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** 12 → "12 ms", 1500 → "1.50 s", null → "-". */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** First 8 characters of a UUID: enough to tell resources apart in a table. */
export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : "-";
}

export function orDash(v: unknown): string {
  return v === null || v === undefined || v === "" ? "-" : String(v);
}

/**
 * A resource as indented `key: value` lines, for `get` commands. Sizes (keys ending in "Bytes")
 * are shown human-readable with the exact count beside them.
 */
export function describe(obj: Record<string, unknown>, indent = 0): string {
  const keys = Object.keys(obj);
  const w = Math.max(0, ...keys.map((k) => k.length + 1));
  const lines: string[] = [];
  const sp = " ".repeat(indent);
  for (const k of keys) {
    const v = obj[k];
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const inner = v as Record<string, unknown>;
      if (Object.keys(inner).length === 0) lines.push(`${sp}${pad(`${k}:`, w, "left")}  -`);
      else lines.push(`${sp}${k}:`, describe(inner, indent + 2).trimEnd());
      continue;
    }
    lines.push(`${sp}${pad(`${k}:`, w, "left")}  ${describeValue(k, v)}`);
  }
  return lines.join("\n") + "\n";
}

function describeValue(key: string, v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number" && /Bytes$/.test(key)) return `${formatBytes(v)} (${v})`;
  if (Array.isArray(v)) return v.length === 0 ? "-" : v.map((x) => JSON.stringify(x)).join(", ");
  return oneLine(String(v));
}
