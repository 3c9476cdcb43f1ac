#!/usr/bin/env node
// `node dist/db/migrate.js [--seed | --bootstrap]`: applies prisma/migrations to DATABASE_URL
// (recorded the way `prisma migrate deploy` records them), then optionally the catalog data every
// region needs (default project, plans, default image) and an operator token from
// SKIFF_OPERATOR_TOKEN: --seed for a local cluster (that token works afterwards), --bootstrap for
// a region (the first operator token, created only while the region has none). Both idempotent.
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
  const bootstrap = argv.includes("--bootstrap");
  if (argv.includes("--seed") || bootstrap) {
    const db = createDb(config.databaseUrl, { max: 1 });
    try {
      const r = await seed(db, {
        operatorToken: config.operatorToken || undefined,
        operatorTokenPolicy: bootstrap ? "first" : "ensure",
      });
      if (bootstrap && !r.operatorTokenSeeded && !config.operatorToken) {
        log.warn("SKIFF_OPERATOR_TOKEN is empty: no operator token was created");
      }
      log.info(
        r,
        r.operatorTokenCreated ? "seed data in place; operator token created" : "seed data in place",
      );
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
