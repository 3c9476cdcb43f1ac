/**
 * Live migration is latency-bound: its downtime is a chain of hand-offs between the source and
 * destination VMM threads, and a VMM normally runs at a low priority (SKIFF_VMM_NICE) so that the
 * agent stays responsive. While a migration runs, the threads on its path raise themselves to
 * SKIFF_MIGRATION_NICE (default -5) so best-effort work on the host does not stretch the pause.
 * Linux nice values are per thread: each thread raises (and later restores) its own.
 */
import { getPriority, setPriority } from "node:os";
import { loadConfig } from "@skiff/common";
import { agentConfigSpec } from "../config.js";

let migrationNice: number | undefined;

/** A VMM inherits the agent's environment; the agent validated it when it started. */
function migrationNiceLevel(): number {
  migrationNice ??= loadConfig({ migrationNice: agentConfigSpec.migrationNice }).migrationNice;
  return migrationNice;
}

/** Raises the calling thread to the migration priority; returns how to put it back. */
export function raiseForMigration(): () => void {
  let before: number;
  try {
    const level = migrationNiceLevel();
    before = getPriority(0);
    if (before <= level) return () => undefined;
    setPriority(0, level);
  } catch {
    // Not permitted (no CAP_SYS_NICE) or a bad level: the migration runs at the VMM's own priority.
    return () => undefined;
  }
  return () => {
    try {
      setPriority(0, before);
    } catch {
      // lowering one's own priority is always allowed; nothing to do if it failed anyway
    }
  };
}
