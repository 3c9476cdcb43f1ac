import { SkiffError } from "@skiff/common";
import type { VpsChange } from "./vps-changes.js";

/**
 * The VPS lifecycle, as one table: for each state, the states it may move to. API handlers,
 * workers and the heartbeat reconciler all go through `assertTransition`, so an illegal move is
 * an error, never a silent state.
 *
 *   pending → provisioning → running ⇄ paused
 *   running → stopping → stopped → starting → running
 *   running → rebooting → running;  running → migrating → running
 *   running|paused → suspending → suspended → restoring → running
 *   running|stopped → provisioning → running (rebuilt from an image)
 *   any live state → unknown (its node stopped answering) → what the node reports
 *   any → error;  any → deleting → deleted
 */
export const VPS_STATES = [
  "pending",
  "provisioning",
  "running",
  "paused",
  "stopping",
  "stopped",
  "starting",
  "rebooting",
  "migrating",
  "suspending",
  "suspended",
  "restoring",
  "unknown",
  "error",
  "deleting",
  "deleted",
] as const;

export type VpsState = (typeof VPS_STATES)[number];

export const VPS_TRANSITIONS: { readonly [S in VpsState]: readonly VpsState[] } = {
  pending: ["provisioning", "error", "deleting"],
  provisioning: ["running", "pending", "error", "deleting", "unknown"],
  running: [
    "provisioning",
    "paused",
    "stopping",
    "stopped",
    "rebooting",
    "migrating",
    "suspending",
    "unknown",
    "error",
    "deleting",
  ],
  paused: ["running", "stopping", "stopped", "suspending", "migrating", "unknown", "error", "deleting"],
  stopping: ["stopped", "running", "unknown", "error"],
  stopped: ["starting", "running", "provisioning", "unknown", "error", "deleting"],
  starting: ["running", "stopped", "unknown", "error"],
  rebooting: ["running", "stopped", "unknown", "error"],
  migrating: ["running", "paused", "unknown", "error"],
  suspending: ["suspended", "running", "paused", "unknown", "error"],
  suspended: ["restoring", "unknown", "error", "deleting"],
  restoring: ["running", "suspended", "unknown", "error"],
  unknown: ["running", "paused", "stopped", "suspended", "provisioning", "error", "deleting"],
  error: ["provisioning", "stopped", "running", "deleting"],
  deleting: ["deleted", "error"],
  deleted: [],
};

export function canTransition(from: VpsState, to: VpsState): boolean {
  return from === to || VPS_TRANSITIONS[from].includes(to);
}

export function assertTransition(from: VpsState, to: VpsState): void {
  if (!canTransition(from, to)) {
    throw new SkiffError("INVALID_TRANSITION", `a VPS cannot go from ${from} to ${to}`, { from, to });
  }
}

/** States in which the VPS occupies a node (its VM exists or is being made there). */
export const ON_NODE_STATES: readonly VpsState[] = [
  "provisioning",
  "running",
  "paused",
  "stopping",
  "stopped",
  "starting",
  "rebooting",
  "migrating",
  "suspending",
  "suspended",
  "restoring",
];

export const VPS_ACTIONS = ["start", "stop", "reboot", "pause", "resume", "suspend", "restore"] as const;
export type VpsAction = (typeof VPS_ACTIONS)[number];
/** Everything that may hold a VPS: the user actions, plus provisioning, deletion and migration. */
export type VpsOperation = VpsAction | "create" | "delete" | "migrate" | VpsChange;

export interface ActionSpec {
  /** States the action may start from. */
  readonly from: readonly VpsState[];
  /** The state shown while the action runs (the state is unchanged when absent). */
  readonly during?: VpsState;
  /** The state once the agent confirmed. */
  readonly to: VpsState;
}

export const ACTIONS: { readonly [A in VpsAction | "delete"]: ActionSpec } = {
  start: { from: ["stopped"], during: "starting", to: "running" },
  stop: { from: ["running", "paused"], during: "stopping", to: "stopped" },
  reboot: { from: ["running"], during: "rebooting", to: "running" },
  pause: { from: ["running"], to: "paused" },
  resume: { from: ["paused"], to: "running" },
  suspend: { from: ["running", "paused"], during: "suspending", to: "suspended" },
  restore: { from: ["suspended"], during: "restoring", to: "running" },
  delete: {
    from: ["pending", "running", "paused", "stopped", "suspended", "unknown", "error"],
    during: "deleting",
    to: "deleted",
  },
};

// The table must agree with itself: every action's moves are legal transitions.
for (const [name, spec] of Object.entries(ACTIONS)) {
  for (const from of spec.from) {
    const path = spec.during ? [from, spec.during, spec.to] : [from, spec.to];
    for (let i = 1; i < path.length; i++) {
      if (!canTransition(path[i - 1]!, path[i]!)) {
        throw new Error(`action ${name}: ${path[i - 1]} → ${path[i]} is not in VPS_TRANSITIONS`);
      }
    }
  }
}
