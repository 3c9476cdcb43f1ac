import { SkiffError } from "@skiff/common";

/**
 * A live migration's states (issue 8): queued → preparing → precopy → stopcopy → committing →
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

/** The API spells rolled_back the way issue 8 does. */
export function migrationStateName(s: MigrationState): string {
  return s === "rolled_back" ? "rolled-back" : s;
}

/** Migrations in flight per node (as source or target): more would starve the guests' I/O. */
export const DEFAULT_MIGRATIONS_PER_NODE = 2;
