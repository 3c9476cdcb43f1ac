import { isSkiffError } from "@skiff/common";
import { describe, expect, it } from "vitest";
import { hasVmm, nextState, transition, VM_STATES } from "./lifecycle.js";

describe("VM lifecycle table", () => {
  it("follows the documented paths", () => {
    expect(transition("v", "created", "start")).toBe("running");
    expect(transition("v", "running", "pause")).toBe("paused");
    expect(transition("v", "paused", "resume")).toBe("running");
    expect(transition("v", "running", "suspend")).toBe("suspended");
    expect(transition("v", "suspended", "resumeSuspended")).toBe("running");
    expect(transition("v", "running", "poweroff")).toBe("stopped");
    expect(transition("v", "paused", "crash")).toBe("crashed");
    expect(transition("v", "crashed", "start")).toBe("running");
  });

  it("refuses illegal transitions with a code naming what is allowed", () => {
    try {
      transition("v", "stopped", "pause");
      expect.unreachable();
    } catch (err) {
      expect(isSkiffError(err) && err.code).toBe("INVALID_TRANSITION");
      expect((err as Error).message).toContain("allowed: start");
    }
  });

  it("never restarts a crashed VM on its own and holds RAM only while running or paused", () => {
    for (const s of VM_STATES)
      expect(nextState(s, "crash") === undefined || hasVmm(s) || s === "suspended").toBe(true);
    expect(VM_STATES.filter(hasVmm)).toEqual(["running", "paused"]);
  });
});
