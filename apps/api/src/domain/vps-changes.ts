/**
 * Changes to what a VPS is, beside the lifecycle actions (vps-state.ts): resize to another plan,
 * rebuild from an image, and snapshots of its disk taken or restored. Each holds the VPS as an
 * action while its worker runs; the worker decides the state it ends in.
 */
import { canTransition, type VpsState } from "./vps-state.js";

export const VPS_CHANGES = ["resize", "rebuild", "snapshot", "restore-snapshot"] as const;
export type VpsChange = (typeof VPS_CHANGES)[number];

export function isVpsChange(s: string): s is VpsChange {
  return (VPS_CHANGES as readonly string[]).includes(s);
}

export interface ChangeSpec {
  /** States the change may start from. */
  readonly from: readonly VpsState[];
  /** The state shown while it runs (unchanged when absent). */
  readonly during?: VpsState;
}

export const CHANGES: { readonly [C in VpsChange]: ChangeSpec } = {
  // Memory and disk size are the VM's config: only a stopped VPS (no RAM to keep) changes them.
  resize: { from: ["stopped"] },
  // The disk is made afresh from the image; the address, MAC and name stay.
  rebuild: { from: ["running", "stopped"], during: "provisioning" },
  // A running guest pauses for the copy only.
  snapshot: { from: ["running", "paused", "stopped"] },
  // The disk's content is replaced: the guest must not be running on it.
  "restore-snapshot": { from: ["stopped"] },
};

for (const [name, spec] of Object.entries(CHANGES)) {
  for (const from of spec.from) {
    if (spec.during && !canTransition(from, spec.during)) {
      throw new Error(`change ${name}: ${from} → ${spec.during} is not in VPS_TRANSITIONS`);
    }
  }
}
