#!/usr/bin/env node
// `node dist/db/migrate.js [--seed]`: applies prisma/migrations to DATABASE_URL (recorded the way
// `prisma migrate deploy` records them) and, with --seed, creates the local-start data.
import { createLogger, errorMessage, loadConfig } from "@skiff/common";
import { migrateSpec } from "../config.js";
import { createDb } from "./client.js";
import { findMigrationsDir, migrate, readMigrations } from "./migrations.js";
import { seed } from "./seed.js";

const log = createLogger("migrate", process.env.LOG_LEVEL ?? "info");

async function main(argv: string[]): Promise<number> {
  const config = loadConfig(migrateSpec);
  const dir = findMigrationsDir(import.meta.dirname, config.migrationsDir || undefined);
  const result = await migrate(config.databaseUrl, readMigrations(dir), (m) => log.info(m));
  for (const name of result.checksumMismatches) {
    log.warn({ migration: name }, "applied migration was edited afterwards (checksum differs)");
  }
  log.info(
    { applied: result.applied, alreadyApplied: result.alreadyApplied.length, dir },
    result.applied.length ? `applied ${result.applied.length} migration(s)` : "database is up to date",
  );
  if (argv.includes("--seed")) {
    const db = createDb(config.databaseUrl, { max: 1 });
    try {
      const r = await seed(db, { operatorToken: config.operatorToken || undefined });
      log.info(r, "seed data in place");
    } finally {
      await db.$disconnect();
    }
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log.error({ code: (err as { code?: string }).code }, errorMessage(err));
    process.exitCode = 1;
  },
);
