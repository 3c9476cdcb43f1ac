import { VM_STATE_NAMES, type VmStateName } from "@skiff/proto/vm-states";
import { agentError } from "../errors.js";

/** The VM states the agent reports: the NodeAgent VmState names (packages/proto). */
export const VM_STATES = VM_STATE_NAMES;
export type { VmStateName };

/** What can happen to a VM: commands from the control plane and events from its VMM. */
export type VmEvent =
  | "start"
  | "pause"
  | "resume"
  | "stop"
  | "reboot"
  | "suspend"
  | "resumeSuspended"
  /** The guest powered itself off (its VMM exited cleanly). */
  | "poweroff"
  /** The VMM died without a clean exit, or the guest wedged. */
  | "crash";

/**
 * The lifecycle as one table: from-state → event → to-state. A pair not in the table is an illegal
 * transition (an error for the caller, never a silent state change).
 */
const TRANSITIONS: Readonly<Record<VmStateName, Partial<Record<VmEvent, VmStateName>>>> = {
  created: { start: "running" },
  running: {
    pause: "paused",
    stop: "stopped",
    reboot: "running",
    suspend: "suspended",
    poweroff: "stopped",
    crash: "crashed",
  },
  paused: {
    resume: "running",
    stop: "stopped",
    suspend: "suspended",
    // A paused guest can still be rebooted (hard reset), as on real hardware.
    reboot: "running",
    poweroff: "stopped",
    crash: "crashed",
  },
  stopped: { start: "running" },
  suspended: { resumeSuspended: "running", crash: "crashed" },
  // The agent never restarts a crashed VM by itself; the control plane may start it again.
  crashed: { start: "running" },
};

export function nextState(from: VmStateName, event: VmEvent): VmStateName | undefined {
  return TRANSITIONS[from][event];
}

/** The target state, or INVALID_TRANSITION naming what is allowed from here. */
export function transition(vmId: string, from: VmStateName, event: VmEvent): VmStateName {
  const to = nextState(from, event);
  if (to === undefined) {
    const allowed = Object.keys(TRANSITIONS[from]).join(", ") || "nothing";
    throw agentError("INVALID_TRANSITION", `vm ${vmId} is ${from}: cannot ${event} (allowed: ${allowed})`, {
      vmId,
      from,
      event,
    });
  }
  return to;
}

/** States in which a VMM process holds the guest's RAM. */
export function hasVmm(state: VmStateName): boolean {
  return state === "running" || state === "paused";
}
