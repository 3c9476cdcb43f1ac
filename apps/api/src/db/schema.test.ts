// Proves the SQL migrations build exactly the database schema.prisma describes: every table,
// column (type, nullability, default), enum, primary key, unique and plain index, and foreign key
// (with its ON DELETE/UPDATE), named as Prisma names them. Prisma's view of the schema (the DMMF)
// comes from Prisma itself through a tiny generator, so nothing here re-parses schema.prisma.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startTestServices, type TestServices } from "@skiff/devkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findMigrationsDir, migrate, readMigrations } from "./migrations.js";

const pkgDir = resolve(import.meta.dirname, "../..");
const schemaPath = resolve(pkgDir, "../../prisma/schema.prisma");

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: "scalar" | "object" | "enum" | "unsupported";
  isList: boolean;
  isRequired: boolean;
  type: string;
  nativeType: [string, string[]] | null;
  default?: unknown;
  hasDefaultValue: boolean;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface Dmmf {
  datamodel: {
    models: DmmfModel[];
    enums: { name: string; dbName: string | null; values: { name: string; dbName: string | null }[] }[];
    indexes: {
      model: string;
      type: "id" | "unique" | "normal";
      dbName?: string | null;
      fields: { name: string }[];
    }[];
  };
}

function loadDmmf(): Dmmf {
  const dir = mkdtempSync(join(tmpdir(), "skiff-dmmf-"));
  try {
    const schema = readFileSync(schemaPath, "utf8").replace(/^generator client \{[\s\S]*?^\}/m, "");
    const out = join(dir, "dmmf.json");
    writeFileSync(
      join(dir, "schema.prisma"),
      `${schema}\ngenerator dmmf {\n  provider = "node ${join(pkgDir, "scripts/dmmf-generator.mjs")}"\n  output = "${out}"\n}\n`,
    );
    writeFileSync(
      join(dir, "prisma.config.ts"),
      `export default { schema: ${JSON.stringify(join(dir, "schema.prisma"))} };\n`,
    );
    const r = spawnSync(
      process.execPath,
      [
        join(pkgDir, "node_modules/prisma/build/index.js"),
        "generate",
        "--config",
        join(dir, "prisma.config.ts"),
      ],
      {
        env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, CHECKPOINT_DISABLE: "1" },
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(`prisma generate (dmmf) failed: ${r.stderr}`);
    return JSON.parse(readFileSync(out, "utf8")) as Dmmf;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface SchemaShape {
  enums: Record<string, string[]>;
  columns: Record<string, Record<string, { type: string; nullable: boolean; default: string | null }>>;
  /** name → "table(cols) primary|unique|index" */
  indexes: Record<string, string>;
  /** name → "table(cols) -> table(cols) ON DELETE x ON UPDATE y" */
  foreignKeys: Record<string, string>;
}

const scalarTypes: Record<string, string> = {
  Int: "integer",
  BigInt: "bigint",
  Float: "double precision",
  Boolean: "boolean",
  Json: "jsonb",
  String: "text",
  DateTime: "timestamp(3) without time zone",
};
const nativeTypes: Record<string, (args: string[]) => string> = {
  Uuid: () => "uuid",
  Timestamptz: (a) => `timestamp(${a[0] ?? 3}) with time zone`,
};

/** What Prisma's migrate would create for this schema, in the shape we read back from Postgres. */
function expectedShape(dmmf: Dmmf): SchemaShape {
  const dm = dmmf.datamodel;
  const enumDb = new Map(dm.enums.map((e) => [e.name, e.dbName ?? e.name]));
  const table = (m: DmmfModel) => m.dbName ?? m.name;
  const col = (m: DmmfModel, field: string) => {
    const f = m.fields.find((x) => x.name === field)!;
    return f.dbName ?? f.name;
  };
  const byName = new Map(dm.models.map((m) => [m.name, m]));
  const shape: SchemaShape = { enums: {}, columns: {}, indexes: {}, foreignKeys: {} };
  for (const e of dm.enums) shape.enums[e.dbName ?? e.name] = e.values.map((v) => v.dbName ?? v.name);
  for (const m of dm.models) {
    const cols: SchemaShape["columns"][string] = {};
    for (const f of m.fields) {
      if (f.kind === "object") continue;
      const type =
        f.kind === "enum"
          ? enumDb.get(f.type)!
          : f.nativeType
            ? nativeTypes[f.nativeType[0]]!(f.nativeType[1])
            : scalarTypes[f.type]!;
      let def: string | null = null;
      if (f.hasDefaultValue) {
        const d = f.default;
        if (d && typeof d === "object" && "name" in d) {
          const fn = (d as { name: string }).name;
          def = fn === "now" ? "CURRENT_TIMESTAMP" : fn === "autoincrement" ? "autoincrement" : null; // uuid(): client-side
        } else {
          def = String(d);
        }
      }
      cols[f.dbName ?? f.name] = { type, nullable: !f.isRequired, default: def };
    }
    shape.columns[table(m)] = cols;
    for (const f of m.fields) {
      if (f.kind !== "object" || !f.relationFromFields?.length) continue;
      const target = byName.get(f.type)!;
      const from = f.relationFromFields.map((x) => col(m, x));
      const to = f.relationToFields!.map((x) => col(target, x));
      const required = f.relationFromFields.some((x) => m.fields.find((y) => y.name === x)!.isRequired);
      const onDelete = f.relationOnDelete ?? (required ? "Restrict" : "SetNull");
      shape.foreignKeys[`${table(m)}_${from.join("_")}_fkey`] =
        `${table(m)}(${from}) -> ${table(target)}(${to}) ON DELETE ${onDelete} ON UPDATE Cascade`;
    }
  }
  for (const ix of dm.indexes) {
    const m = byName.get(ix.model)!;
    const cols = ix.fields.map((f) => col(m, f.name));
    const suffix = ix.type === "id" ? "pkey" : ix.type === "unique" ? "key" : "idx";
    const name =
      ix.dbName ?? (ix.type === "id" ? `${table(m)}_pkey` : `${table(m)}_${cols.join("_")}_${suffix}`);
    const kind = ix.type === "id" ? "primary" : ix.type === "unique" ? "unique" : "index";
    shape.indexes[name] = `${table(m)}(${cols}) ${kind}`;
  }
  return shape;
}

const fkAction: Record<string, string> = {
  a: "NoAction",
  r: "Restrict",
  c: "Cascade",
  n: "SetNull",
  d: "SetDefault",
};

function normalizeDefault(expr: string | null): string | null {
  if (expr === null) return null;
  if (expr.startsWith("nextval(")) return "autoincrement";
  const cast = /^'(.*)'::[\w ."]+$/s.exec(expr);
  return cast ? cast[1]!.replace(/''/g, "'") : expr;
}

async function actualShape(client: pg.Client): Promise<SchemaShape> {
  const shape: SchemaShape = { enums: {}, columns: {}, indexes: {}, foreignKeys: {} };
  const enums = await client.query<{ name: string; labels: string[] }>(`
    SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' GROUP BY t.typname`);
  for (const e of enums.rows) shape.enums[e.name] = e.labels;
  const cols = await client.query<{
    tbl: string;
    col: string;
    type: string;
    notnull: boolean;
    def: string | null;
  }>(`
    SELECT c.relname AS tbl, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS type,
           a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS def
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
      AND c.relname <> '_prisma_migrations'`);
  for (const r of cols.rows) {
    shape.columns[r.tbl] ??= {};
    shape.columns[r.tbl]![r.col] = { type: r.type, nullable: !r.notnull, default: normalizeDefault(r.def) };
  }
  const idx = await client.query<{
    name: string;
    tbl: string;
    cols: string[];
    uniq: boolean;
    prim: boolean;
  }>(`
    SELECT i.relname AS name, t.relname AS tbl, x.indisunique AS uniq, x.indisprimary AS prim,
      ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS cols
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND t.relname <> '_prisma_migrations'`);
  for (const r of idx.rows) {
    shape.indexes[r.name] = `${r.tbl}(${r.cols}) ${r.prim ? "primary" : r.uniq ? "unique" : "index"}`;
  }
  const fks = await client.query<{
    name: string;
    tbl: string;
    cols: string[];
    ref: string;
    refcols: string[];
    del: string;
    upd: string;
  }>(`
    SELECT c.conname AS name, t.relname AS tbl, r.relname AS ref, c.confdeltype AS del, c.confupdtype AS upd,
      ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS cols,
      ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = k.attnum ORDER BY k.ord)::text[] AS refcols
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
    WHERE c.contype = 'f'`);
  for (const r of fks.rows) {
    shape.foreignKeys[r.name] =
      `${r.tbl}(${r.cols}) -> ${r.ref}(${r.refcols}) ON DELETE ${fkAction[r.del]} ON UPDATE ${fkAction[r.upd]}`;
  }
  return shape;
}

describe("migrations vs schema.prisma", () => {
  let services: TestServices;
  let client: pg.Client;

  beforeAll(async () => {
    services = await startTestServices();
    await migrate(services.postgres.url, readMigrations(findMigrationsDir(import.meta.dirname)));
    client = new pg.Client({ connectionString: services.postgres.url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await services?.stop();
  });

  it("builds exactly the tables, columns, enums, indexes and foreign keys of the schema", async () => {
    const expected = expectedShape(loadDmmf());
    const actual = await actualShape(client);
    expect(Object.keys(expected.columns).length).toBeGreaterThanOrEqual(10);
    expect(actual.enums).toEqual(expected.enums);
    expect(actual.columns).toEqual(expected.columns);
    expect(actual.indexes).toEqual(expected.indexes);
    expect(actual.foreignKeys).toEqual(expected.foreignKeys);
  });
});
