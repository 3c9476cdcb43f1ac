/**
 * The VM states an agent reports (the proto's VmState without UNSPECIFIED). A module of its own
 * (`@skiff/proto/vm-states`) so a VMM can name them without loading the generated gRPC code.
 */
export const VM_STATE_NAMES = ["created", "running", "paused", "stopped", "suspended", "crashed"] as const;
export type VmStateName = (typeof VM_STATE_NAMES)[number];
