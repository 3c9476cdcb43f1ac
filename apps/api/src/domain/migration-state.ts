import { SkiffError } from "@skiff/common";

/**
 * A live migration's states: queued → preparing → precopy → stopcopy → committing →
 * completed | rolled-back | failed. `rolled-back`: nothing moved, the VPS runs on its source as
 * before. `failed`: the migration could not start, or its outcome had to be reconstructed.
 */
export const MIGRATION_STATES = [
  "queued",
  "preparing",
  "precopy",
  "stopcopy",
  "committing",
  "completed",
  "rolled_back",
  "failed",
] as const;
export type MigrationState = (typeof MIGRATION_STATES)[number];

const ENDS: readonly MigrationState[] = ["completed", "rolled_back", "failed"];

export const MIGRATION_TRANSITIONS: { readonly [S in MigrationState]: readonly MigrationState[] } = {
  queued: ["preparing", "rolled_back", "failed"],
  preparing: ["precopy", "rolled_back", "failed"],
  precopy: ["stopcopy", "committing", "completed", "rolled_back", "failed"],
  stopcopy: ["committing", "completed", "rolled_back", "failed"],
  committing: ["completed", "rolled_back", "failed"],
  completed: [],
  rolled_back: [],
  failed: [],
};

export function isFinished(s: MigrationState): boolean {
  return ENDS.includes(s);
}

export function assertMigrationTransition(from: MigrationState, to: MigrationState): void {
  if (from !== to && !MIGRATION_TRANSITIONS[from].includes(to)) {
    throw new SkiffError("INVALID_TRANSITION", `a migration cannot go from ${from} to ${to}`, { from, to });
  }
}

/**
 * Each state's one public spelling: the API, the events (`migration.<name>`), the CLI, the docs
 * and the database (Prisma's `@map`) all say these. Only Prisma's TypeScript identifier differs
 * (`rolled_back`: an identifier has no hyphen), so code converts here and nowhere else.
 */
export const MIGRATION_STATE_NAMES = [
  "queued",
  "preparing",
  "precopy",
  "stopcopy",
  "committing",
  "completed",
  "rolled-back",
  "failed",
] as const;
export type MigrationStateName = (typeof MIGRATION_STATE_NAMES)[number];

const NAME_OF: { readonly [S in MigrationState]: MigrationStateName } = {
  queued: "queued",
  preparing: "preparing",
  precopy: "precopy",
  stopcopy: "stopcopy",
  committing: "committing",
  completed: "completed",
  rolled_back: "rolled-back",
  failed: "failed",
};
const STATE_OF = new Map<string, MigrationState>(MIGRATION_STATES.map((s) => [NAME_OF[s], s] as const));

export function migrationStateName(s: MigrationState): MigrationStateName {
  return NAME_OF[s];
}

export function migrationStateOf(name: MigrationStateName): MigrationState {
  const s = STATE_OF.get(name);
  if (s === undefined) throw new SkiffError("INVALID_STATE", `no migration state ${name}`);
  return s;
}

/** The event recorded when a migration reaches `s`. */
export function migrationEventType(s: MigrationState): `migration.${MigrationStateName}` {
  return `migration.${NAME_OF[s]}`;
}

/** Migrations in flight per node (as source or target): more would starve the guests' I/O. */
export const DEFAULT_MIGRATIONS_PER_NODE = 2;
