import pg from "pg";

export type ListName = "vps" | "nodes";

/** A list's change counter as it is now (read after the call). */
export type ListVersionReader = (list: ListName) => Promise<string>;

/**
 * The change counters of the lists (table list_versions, bumped by triggers when a change commits;
 * spread over rows, so the sum of a column): the VPS list's, and for the node list both, since it
 * also shows what VPSes reserve.
 */
const COUNTER_SQL: Record<ListName, string> = {
  vps: "SELECT sum(vps)::text AS v FROM list_versions",
  nodes: "SELECT sum(vps)::text || '.' || sum(nodes)::text AS v FROM list_versions",
};

/**
 * Reads the counters on a connection of its own with prepared statements. Busy lists read one
 * about once per round trip; through Prisma each read cost ~0.2 ms of the API's CPU and waited for
 * a connection of the shared pool behind the pages' own queries.
 */
export function listVersionReader(databaseUrl: string): { read: ListVersionReader; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  // A connection lost while idle (PostgreSQL restarted): the pool drops it and the next read reconnects.
  pool.on("error", () => undefined);
  return {
    async read(list) {
      const r = await pool.query<{ v: string | null }>({
        name: `list-version-${list}`,
        text: COUNTER_SQL[list],
      });
      const v = r.rows[0]?.v;
      if (!v) throw new Error("list_versions is empty: the migrations did not run");
      return v;
    },
    close: () => pool.end(),
  };
}
