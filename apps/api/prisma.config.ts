// Prisma CLI configuration (generate, and `migrate deploy` on production hosts). The URL is read
// from process.env directly: Prisma's env() helper throws when the variable is unset, and
// `prisma generate` needs no database.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "../../prisma/schema.prisma",
  migrations: { path: "../../prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
