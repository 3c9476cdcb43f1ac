/**
 * Live migration is latency-bound: its downtime is a chain of hand-offs between the source and
 * destination VMM threads, and a VMM normally runs at a low priority (SKIFF_VMM_NICE) so that the
 * agent stays responsive. While a migration runs, the threads on its path raise themselves to
 * SKIFF_MIGRATION_NICE (default -5) so best-effort work on the host does not stretch the pause.
 * Linux nice values are per thread: each thread raises (and later restores) its own.
 *
 * The pause itself (the last pages, the device state, restore, commit) is a few hand-offs between
 * threads that each wait for the scheduler: on a loaded 2-core host a wake-up at -5 took up to
 * 20 ms, at -20 a few. The threads that carry the pause, and are otherwise idle or short-lived
 * then, raise themselves PAUSE_BOOST levels higher (at most -20) for those milliseconds.
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

/** Levels above the migration's priority for the pause's threads (see the file comment). */
const PAUSE_BOOST = 15;

/** Raises the calling thread to the migration priority; returns how to put it back. */
export function raiseForMigration(): () => void {
  return raise(() => migrationNiceLevel());
}

/** Raises the calling thread for a migration's pause; returns how to put it back. */
export function raiseForPause(): () => void {
  return raise(() => Math.max(-20, migrationNiceLevel() - PAUSE_BOOST));
}

function raise(levelOf: () => number): () => void {
  let before: number;
  try {
    const level = levelOf();
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
