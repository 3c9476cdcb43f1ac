// Prisma CLI configuration (generate, and `migrate deploy` on hosts that have Prisma's schema
// engine). The URL is read from process.env directly: Prisma's env() helper throws when the
// variable is unset, and `prisma generate` needs no database. The schema is found beside this
// file (the API image: /app/prisma) or at the repository root (a checkout: apps/api/../../prisma).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "prisma/config";

const here = dirname(fileURLToPath(import.meta.url));
const prismaDir = existsSync(join(here, "prisma", "schema.prisma"))
  ? join(here, "prisma")
  : join(here, "..", "..", "prisma");

export default defineConfig({
  schema: join(prismaDir, "schema.prisma"),
  migrations: { path: join(prismaDir, "migrations") },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
