import type { Db, Plan } from "../db/client.js";

/**
 * The plans, read from the database at most once per `ttlMs` and at once after a change made
 * through this process: every client lists them (the CLI, the web console, scripts) and they
 * change a few times a year. Another API replica's change shows here within `ttlMs`.
 */
export class PlanCatalog {
  private rows: Promise<Plan[]> | undefined;
  private readAt = 0;

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 1000,
  ) {}

  /** Every plan, oldest first (the list's cursor order: createdAt, then id). */
  all(now = Date.now()): Promise<Plan[]> {
    if (!this.rows || now - this.readAt > this.ttlMs) {
      this.readAt = now;
      const read = this.db.plan.findMany({ orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
      // A failed read is not kept: the next request asks the database again.
      read.catch(() => {
        if (this.rows === read) this.rows = undefined;
      });
      this.rows = read;
    }
    return this.rows;
  }

  /** After a create or delete here: the next list reads the database. */
  changed(): void {
    this.rows = undefined;
  }
}
