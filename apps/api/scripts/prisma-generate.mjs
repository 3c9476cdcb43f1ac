#!/usr/bin/env node
// Generates the Prisma client into src/generated/prisma, offline. Prisma's CLI insists on a
// schema-engine binary path even for `generate`, which never runs it: any existing file will do
// (see docs/api.md). Skips the work when the schema and Prisma's version are unchanged.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

const pkgDir = resolve(import.meta.dirname, "..");
const schemaPath = resolve(pkgDir, "../../prisma/schema.prisma");
const outDir = join(pkgDir, "src/generated/prisma");
const stampFile = join(outDir, ".schema-stamp");

const require = createRequire(join(pkgDir, "package.json"));
const prismaPkg = require.resolve("prisma/package.json");
const prismaVersion = JSON.parse(readFileSync(prismaPkg, "utf8")).version;
const stamp = createHash("sha256")
  .update(readFileSync(schemaPath))
  .update(prismaVersion)
  .update(readFileSync(join(pkgDir, "prisma.config.ts")))
  .digest("hex");

if (!process.argv.includes("--force") && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
  process.exit(0);
}

const engine = process.env.PRISMA_SCHEMA_ENGINE_BINARY;
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: engine && existsSync(engine) ? engine : process.execPath,
  CHECKPOINT_DISABLE: "1",
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
};
const cli = join(dirname(prismaPkg), "build/index.js");
const r = spawnSync(process.execPath, [cli, "generate", "--config", join(pkgDir, "prisma.config.ts")], {
  cwd: pkgDir,
  env,
  stdio: ["ignore", "pipe", "inherit"],
  encoding: "utf8",
});
if (r.status !== 0) {
  process.stdout.write(r.stdout ?? "");
  console.error(`prisma generate failed (exit ${r.status})`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
writeFileSync(stampFile, stamp);
