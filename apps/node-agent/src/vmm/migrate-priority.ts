/**
 * Live migration is latency-bound: its downtime is a chain of hand-offs between the source and
 * destination VMM threads, and a VMM normally runs at a low priority (SKIFF_VMM_NICE) so that the
 * agent stays responsive. While a migration runs, the threads on its path raise themselves to
 * SKIFF_MIGRATION_NICE (default -5) so best-effort work on the host does not stretch the pause.
 * Linux nice values are per thread: each thread raises (and later restores) its own.
 *
 * The pause itself (the last pages, the device state, restore, commit) is a few hand-offs between
 * threads that each wait for the scheduler. The threads that carry it, otherwise idle or
 * short-lived by then, raise themselves PAUSE_BOOST levels higher (at most -20) for those
 * milliseconds.
 *
 * Where the kernel groups tasks by session (autogroup scheduling, on by default in many
 * distributions), CPU is shared between sessions first and a VMM is a session of its own (the
 * agent spawns it detached): thread nice levels then only order the VMM's own threads, and what
 * counts against every other process is its group's nice (/proc/self/autogroup; measured under
 * load 25: timer lateness p99 13.5 ms at group nice 0, 3.8 ms at -20). The main thread raises that
 * too, to the migration's level while it runs and higher for the pause.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { loadConfig } from "@skiff/common";
import { migrationNiceSpec } from "./migration-nice.js";

let migrationNice: number | undefined;

/** A VMM inherits the agent's environment; the agent validated it when it started. */
function migrationNiceLevel(): number {
  migrationNice ??= loadConfig({ migrationNice: migrationNiceSpec }).migrationNice;
  return migrationNice;
}

/**
 * Empties the young generation now (when the VMM runs with --expose-gc), so that the pause's
 * allocations, a few records and buffers, do not set off a collection inside it.
 */
export function collectYoung(): void {
  (globalThis as { gc?: (o: { type: "minor" }) => void }).gc?.({ type: "minor" });
}

/** Levels above the migration's priority for the pause's threads (see the file comment). */
const PAUSE_BOOST = 15;

/** Raises the calling thread to the migration priority; returns how to put it back. */
export function raiseForMigration(): () => void {
  return raise(() => migrationNiceLevel());
}

const pauseLevel = (): number => Math.max(-20, migrationNiceLevel() - PAUSE_BOOST);

/** Raises the calling thread for a migration's pause; returns how to put it back. */
export function raiseForPause(): () => void {
  return raise(pauseLevel);
}

/**
 * The main thread's raise for the whole migration: itself and its process's scheduling group
 * (which the agent set to SKIFF_VMM_NICE), so the copy is not starved by best-effort work either.
 */
export function raiseProcessForMigration(): () => void {
  return raiseProcess(migrationNiceLevel);
}

/** The main thread's raise for the pause: itself and its process's scheduling group. */
export function raiseProcessForPause(): () => void {
  return raiseProcess(pauseLevel);
}

function raiseProcess(levelOf: () => number): () => void {
  const lowerThread = raise(levelOf);
  const lowerGroup = raiseGroup(levelOf);
  return () => {
    lowerGroup();
    lowerThread();
  };
}

/** A restore from a suspend: this process's scheduling group at the migration's priority. */
export function raiseGroupForRestore(): () => void {
  return raiseGroup(migrationNiceLevel);
}

const AUTOGROUP = "/proc/self/autogroup";

function raiseGroup(levelOf: () => number): () => void {
  let before: number;
  try {
    // "/autogroup-42 nice 0"; absent without autogroup scheduling.
    const m = /nice (-?\d+)/.exec(readFileSync(AUTOGROUP, "utf8"));
    if (!m) return () => undefined;
    before = Number(m[1]);
    const level = levelOf();
    if (before <= level) return () => undefined;
    writeFileSync(AUTOGROUP, String(level));
  } catch {
    return () => undefined;
  }
  return () => {
    try {
      writeFileSync(AUTOGROUP, String(before));
    } catch {
      // the group's nice stays raised until the VMM exits; nothing worse
    }
  };
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
