import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { SkiffError } from "@skiff/common";
import pg from "pg";

/**
 * Applies the SQL migrations in prisma/migrations, recording each one in `_prisma_migrations`
 * exactly as `prisma migrate deploy` does (same table, same checksum, same advisory lock), so a
 * host that has Prisma's native schema engine can take over at any point. Unlike Prisma, each
 * migration runs in one transaction with its bookkeeping row: a failure leaves no trace and no
 * half-applied schema, and nothing has to be "resolved" by hand.
 */

export interface MigrationFile {
  readonly name: string;
  readonly sql: string;
  /** SHA-256 of the file's bytes, hex: Prisma's checksum. */
  readonly checksum: string;
}

export interface MigrateResult {
  readonly applied: string[];
  readonly alreadyApplied: string[];
  /** Applied migrations whose file changed since (Prisma warns about these too). */
  readonly checksumMismatches: string[];
}

/** Prisma's advisory lock key for migrations (so our runner and Prisma's exclude each other). */
const PRISMA_MIGRATE_LOCK = 72707369;

const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** prisma/migrations: SKIFF_MIGRATIONS_DIR, else the nearest `prisma/migrations` above `from`. */
export function findMigrationsDir(from: string, override?: string): string {
  if (override) return resolve(override);
  let dir = resolve(from);
  for (;;) {
    const candidate = join(dir, "prisma", "migrations");
    if (existsSync(join(candidate, "migration_lock.toml"))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new SkiffError("MIGRATIONS_NOT_FOUND", `no prisma/migrations directory above ${from}`);
    }
    dir = parent;
  }
}

export function readMigrations(dir: string): MigrationFile[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, "migration.sql")))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name, "migration.sql"));
      return {
        name,
        sql: bytes.toString("utf8"),
        checksum: createHash("sha256").update(bytes).digest("hex"),
      };
    });
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

export async function migrate(
  databaseUrl: string,
  migrations: readonly MigrationFile[],
  log: (msg: string) => void = () => undefined,
): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK]);
    await client.query(MIGRATIONS_TABLE);
    const rows = (
      await client.query<AppliedRow>(
        `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"`,
      )
    ).rows.filter((r) => r.rolled_back_at === null);

    const failed = rows.filter((r) => r.finished_at === null);
    if (failed.length > 0) {
      // Left by `prisma migrate deploy` (which does not roll back): a person must look first.
      throw new SkiffError(
        "MIGRATION_FAILED_BEFORE",
        `migration ${failed[0]!.migration_name} failed earlier and is not resolved; see "prisma migrate resolve"`,
        { migrations: failed.map((r) => r.migration_name) },
      );
    }
    const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
    const result: MigrateResult = { applied: [], alreadyApplied: [], checksumMismatches: [] };

    for (const m of migrations) {
      const previous = done.get(m.name);
      if (previous !== undefined) {
        result.alreadyApplied.push(m.name);
        if (previous !== m.checksum) result.checksumMismatches.push(m.name);
        continue;
      }
      log(`applying ${m.name}`);
      try {
        await client.query("BEGIN");
        const id = randomUUID();
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), 0)`,
          [id, m.checksum, m.name],
        );
        await client.query(m.sql);
        await client.query(
          `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
          [id],
        );
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw new SkiffError(
          "MIGRATION_FAILED",
          `migration ${m.name} failed and was rolled back: ${(err as Error).message}`,
          { migration: m.name },
          { cause: err },
        );
      }
      result.applied.push(m.name);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK]).catch(() => undefined);
    await client.end();
  }
}
