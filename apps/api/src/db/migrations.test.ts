import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServices, type TestServices } from "@skiff/devkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../auth/tokens.js";
import { createDb } from "./client.js";
import { findMigrationsDir, migrate, readMigrations } from "./migrations.js";
import { DEFAULT_IMAGE, SEED_PLANS, seed } from "./seed.js";

let services: TestServices;
let dbCounter = 0;

/** A fresh, empty database on the test server. */
async function freshDatabase(): Promise<string> {
  const name = `m${++dbCounter}`;
  const admin = new pg.Client({ connectionString: services.postgres.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return services.postgres.url.replace(/\/[^/]+$/, `/${name}`);
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  services = await startTestServices();
});
afterAll(async () => {
  await services?.stop();
});

describe("migration runner", () => {
  it("applies the repository's migrations once and records them as Prisma does", async () => {
    const url = await freshDatabase();
    const files = repoMigrations();
    expect(files.length).toBeGreaterThan(0);
    const first = await migrate(url, files);
    expect(first.applied).toEqual(files.map((f) => f.name));
    const rows = await query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      applied_steps_count: number;
      id: string;
    }>(url, `SELECT * FROM "_prisma_migrations" ORDER BY migration_name`);
    expect(rows.map((r) => r.migration_name)).toEqual(files.map((f) => f.name));
    for (const [i, r] of rows.entries()) {
      expect(r.checksum).toBe(createHash("sha256").update(files[i]!.sql).digest("hex"));
      expect(r.finished_at).toBeInstanceOf(Date);
      expect(r.applied_steps_count).toBe(1);
      expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
    }
    const second = await migrate(url, files);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(files.map((f) => f.name));
    expect(second.checksumMismatches).toEqual([]);
  });

  it("rolls a failing migration back completely and records nothing for it", async () => {
    const url = await freshDatabase();
    const dir = mkdtempSync(join(tmpdir(), "skiff-mig-"));
    try {
      writeFileSync(join(dir, "migration_lock.toml"), 'provider = "postgresql"\n');
      mkdirSync(join(dir, "20260101000000_a"));
      writeFileSync(join(dir, "20260101000000_a", "migration.sql"), `CREATE TABLE "a" ("x" INTEGER);`);
      mkdirSync(join(dir, "20260102000000_b"));
      writeFileSync(
        join(dir, "20260102000000_b", "migration.sql"),
        `CREATE TABLE "b" ("x" INTEGER);\nINSERT INTO "nope" VALUES (1);`,
      );
      await expect(migrate(url, readMigrations(dir))).rejects.toMatchObject({ code: "MIGRATION_FAILED" });
      const tables = await query<{ t: string }>(
        url,
        `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`,
      );
      expect(tables.map((r) => r.t)).toEqual(["_prisma_migrations", "a"]);
      const rows = await query<{ migration_name: string }>(
        url,
        `SELECT migration_name FROM "_prisma_migrations"`,
      );
      expect(rows.map((r) => r.migration_name)).toEqual(["20260101000000_a"]);

      // Fixed file: the next run applies only b. An edited, applied file is reported.
      writeFileSync(join(dir, "20260102000000_b", "migration.sql"), `CREATE TABLE "b" ("x" INTEGER);`);
      writeFileSync(join(dir, "20260101000000_a", "migration.sql"), `CREATE TABLE "a" ("x" BIGINT);`);
      const r = await migrate(url, readMigrations(dir));
      expect(r.applied).toEqual(["20260102000000_b"]);
      expect(r.checksumMismatches).toEqual(["20260101000000_a"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses to continue after a failure Prisma left unresolved", async () => {
    const url = await freshDatabase();
    await migrate(url, []);
    await query(
      url,
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name) VALUES ('x', 'y', '20250101000000_broken')`,
    );
    await expect(migrate(url, repoMigrations())).rejects.toMatchObject({ code: "MIGRATION_FAILED_BEFORE" });
  });

  it("serializes concurrent runners: each migration is applied exactly once", async () => {
    const url = await freshDatabase();
    const results = await Promise.all([1, 2, 3].map(() => migrate(url, repoMigrations())));
    expect(results.flatMap((r) => r.applied).sort()).toEqual(repoMigrations().map((f) => f.name));
  });
});

describe("seed", () => {
  it("creates the local-start data idempotently, storing only the token's hash", async () => {
    const url = await freshDatabase();
    await migrate(url, repoMigrations());
    const db = createDb(url, { max: 2 });
    try {
      const a = await seed(db, { operatorToken: "skiff_op_local_secret" });
      const b = await seed(db, { operatorToken: "skiff_op_local_secret" });
      expect(b.projectId).toBe(a.projectId);
      expect(await db.plan.count()).toBe(SEED_PLANS.length);
      const image = await db.image.findFirstOrThrow({ where: { isDefault: true } });
      expect(image.kernelPath).toBe(DEFAULT_IMAGE.kernelPath);
      expect(image.rootfsPath).toBe("guests/linux/rootfs.ext2");
      const tokens = await db.apiToken.findMany();
      expect(tokens).toHaveLength(1);
      expect(tokens[0]!.hash).toBe(hashToken("skiff_op_local_secret"));
      expect(tokens[0]!.scope).toBe("operator");
      expect(JSON.stringify(tokens)).not.toContain("local_secret");
    } finally {
      await db.$disconnect();
    }
  });
});

describe("bootstrap (a region's migrate job)", () => {
  const first = "skiff_op_bootstrap_0123456789abcdef";

  it("creates the first operator token only while the region has none, and never revives it", async () => {
    const url = await freshDatabase();
    await migrate(url, repoMigrations());
    const db = createDb(url, { max: 2 });
    try {
      const a = await seed(db, { operatorToken: first, operatorTokenPolicy: "first" });
      expect([a.operatorTokenCreated, a.operatorTokenSeeded]).toEqual([true, true]);
      // Re-running the job: nothing new.
      const again = await seed(db, { operatorToken: first, operatorTokenPolicy: "first" });
      expect(again.operatorTokenCreated).toBe(false);
      expect(await db.plan.count()).toBe(SEED_PLANS.length);
      expect(await db.image.count({ where: { isDefault: true } })).toBe(1);

      // Operators made their own token: a changed SKIFF_OPERATOR_TOKEN is not added.
      await db.apiToken.create({
        data: { name: "ops", prefix: "x", hash: hashToken("own"), scope: "operator" },
      });
      const other = await seed(db, { operatorToken: `${first}-other`, operatorTokenPolicy: "first" });
      expect(other.operatorTokenCreated).toBe(false);
      expect(other.operatorTokenNote).toMatch(/already/);

      // The bootstrap token revoked: re-running the job leaves it revoked.
      await db.apiToken.updateMany({ where: { hash: hashToken(first) }, data: { revokedAt: new Date() } });
      const revoked = await seed(db, { operatorToken: first, operatorTokenPolicy: "first" });
      expect(revoked.operatorTokenSeeded).toBe(false);
      expect(
        (await db.apiToken.findUniqueOrThrow({ where: { hash: hashToken(first) } })).revokedAt,
      ).not.toBeNull();
      expect(await db.apiToken.count({ where: { scope: "operator" } })).toBe(2);
    } finally {
      await db.$disconnect();
    }
  });

  it("migrate.js --bootstrap: migrations, catalog and the first token; placeholders refused", async () => {
    const url = await freshDatabase();
    const run = (token: string) =>
      spawnSync(
        process.execPath,
        ["--import", "tsx", join(import.meta.dirname, "migrate.ts"), "--bootstrap"],
        {
          env: { ...process.env, DATABASE_URL: url, SKIFF_OPERATOR_TOKEN: token, LOG_LEVEL: "info" },
          encoding: "utf8",
        },
      );
    const weak = run("changeme");
    expect(weak.status).toBe(1);
    expect(weak.stdout + weak.stderr).toContain("WEAK_OPERATOR_TOKEN");
    for (const _ of [1, 2]) {
      const r = run(first);
      expect(r.status, r.stdout + r.stderr).toBe(0);
    }
    const db = createDb(url, { max: 1 });
    try {
      const rows = await db.apiToken.findMany({ select: { scope: true, hash: true } });
      expect(rows).toEqual([{ scope: "operator", hash: hashToken(first) }]);
      expect(await db.plan.count()).toBe(SEED_PLANS.length);
    } finally {
      await db.$disconnect();
    }
  });
});

function repoMigrations() {
  return readMigrations(findMigrationsDir(import.meta.dirname));
}
