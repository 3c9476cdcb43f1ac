/**
 * Changes to what a VPS is, beside the lifecycle actions (vps-state.ts): resize to another plan
 * and rebuild from an image. Each holds the VPS as an action while its worker runs.
 */
import { type ActionSpec, canTransition } from "./vps-state.js";

export const VPS_CHANGES = ["resize", "rebuild"] as const;
export type VpsChange = (typeof VPS_CHANGES)[number];

export const CHANGES: { readonly [C in VpsChange]: ActionSpec } = {
  // Memory and disk size are the VM's config: only a stopped VPS (no RAM to keep) changes them.
  resize: { from: ["stopped"], to: "stopped" },
  // The disk is made afresh from the image; the address, MAC and name stay.
  rebuild: { from: ["running", "stopped"], during: "provisioning", to: "running" },
};

for (const [name, spec] of Object.entries(CHANGES)) {
  for (const from of spec.from) {
    const path = spec.during ? [from, spec.during, spec.to] : [from, spec.to];
    for (let i = 1; i < path.length; i++) {
      if (!canTransition(path[i - 1]!, path[i]!)) {
        throw new Error(`change ${name}: ${path[i - 1]} → ${path[i]} is not in VPS_TRANSITIONS`);
      }
    }
  }
}
