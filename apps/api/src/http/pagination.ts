import { apiError } from "./errors.js";
import { isUuid } from "./refs.js";

/**
 * Cursor pagination over (createdAt, id): stable under inserts, no page drifts. The cursor is
 * opaque to clients (base64url JSON) and validated on the way back in.
 */
export interface Cursor {
  readonly t: string;
  readonly id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString("base64url");
}

export function decodeCursor(raw: string | undefined): Cursor | undefined {
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as unknown;
    if (
      v &&
      typeof v === "object" &&
      typeof (v as Cursor).t === "string" &&
      typeof (v as Cursor).id === "string" &&
      isUuid((v as Cursor).id) &&
      !Number.isNaN(Date.parse((v as Cursor).t))
    ) {
      return v as Cursor;
    }
  } catch {
    // fall through
  }
  throw apiError("INVALID_CURSOR", "cursor is not one this API produced");
}

/** Prisma `where` for rows after the cursor, in (createdAt asc, id asc) order. */
export function afterCursor(c: Cursor | undefined, field = "createdAt") {
  if (!c) return {};
  const t = new Date(c.t);
  return { OR: [{ [field]: { gt: t } }, { [field]: t, id: { gt: c.id } }] };
}

/** Whether a row comes after the cursor in (createdAt, id) order: `afterCursor` in memory. */
export function isAfter(row: { createdAt: Date; id: string }, c: Cursor): boolean {
  const t = Date.parse(c.t);
  const at = row.createdAt.getTime();
  return at > t || (at === t && row.id > c.id);
}

export function orderForCursor(field = "createdAt") {
  return [{ [field]: "asc" as const }, { id: "asc" as const }];
}

/** Rows fetched with take = limit + 1: the extra row says whether there is a next page. */
export function pageOf<R extends { id: string }, T>(
  rows: R[],
  limit: number,
  toDto: (r: R) => T,
  timeOf: (r: R) => Date,
): { items: T[]; nextCursor: string | null } {
  const more = rows.length > limit;
  const slice = more ? rows.slice(0, limit) : rows;
  const last = slice[slice.length - 1];
  return {
    items: slice.map(toDto),
    nextCursor: more && last ? encodeCursor({ t: timeOf(last).toISOString(), id: last.id }) : null,
  };
}
