export { type App, type AppDeps, buildApp } from "./app.js";
export { apiSpec, loadApiConfig, migrateSpec } from "./config.js";
export { createDb, type Db } from "./db/client.js";
export { findMigrationsDir, migrate, readMigrations } from "./db/migrations.js";
export { seed } from "./db/seed.js";
export * from "./domain/placement.js";
export * from "./domain/vps-state.js";
