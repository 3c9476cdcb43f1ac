/**
 * Database failures that say nothing about the request: the server restarting or unreachable, a
 * transaction that outran its time on a loaded host, a serialization conflict or a deadlock. A job
 * that meets one tries again (BullMQ's attempts) instead of failing the VPS it works on.
 */

/** Prisma: P1001/P1002/P1017 connection, P2024 pool timeout, P2028 transaction API, P2034 conflict. */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028", "P2034"]);
/** PostgreSQL SQLSTATE classes 08 (connection), 57P (operator intervention: shutdown), 40001, 40P01. */
const PG_CODE = /^(08|57P0[1-3]$|40001$|40P01$)/;
/** What node-postgres says when the server goes away under it (no SQLSTATE then). */
const CONNECTION_GONE =
  /ECONNREFUSED|ECONNRESET|Connection terminated|connection is closed|server closed the connection/i;

export function isTransientDbError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === "string" && (PRISMA_CODES.has(code) || PG_CODE.test(code))) return true;
    if (typeof message === "string" && CONNECTION_GONE.test(message)) return true;
    e = cause;
  }
  return false;
}
