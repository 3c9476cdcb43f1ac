/**
 * How a VM's VMM ended, turned into its next state: from the VMM's own exit.json (poweroff, stop,
 * suspend, fatal, migrated) or, without one, a crash. Nothing is restarted by itself.
 */
import { existsSync } from "node:fs";
import type { VmEvent } from "../vm/lifecycle.js";
import type { ExitRecord } from "../vm/record.js";
import type { VmEntry } from "./vm-entry.js";

/**
 * The lifecycle event an ended VMM stands for, with the record's lastExit and exitCode set;
 * "migrated" when the VM now runs on another node.
 */
export function exitEvent(
  entry: VmEntry,
  exit: ExitRecord | undefined,
  unknown: string,
): VmEvent | "migrated" {
  const r = entry.record;
  if (exit === undefined) {
    r.lastExit = unknown;
    r.exitCode = -1;
    return "crash";
  }
  r.lastExit = exit.reason === "fatal" ? `fatal: ${exit.message}` : `${exit.reason}: ${exit.message}`;
  r.exitCode = exit.code;
  switch (exit.reason) {
    case "migrated":
      return "migrated";
    case "fatal":
      return "crash";
    case "suspend":
      // A suspend whose snapshot is missing cannot be resumed: it is as good as a crash.
      return existsSync(entry.paths.snapshot) ? "suspend" : "crash";
    case "stop":
      return "stop";
    case "poweroff":
      return "poweroff";
  }
}
