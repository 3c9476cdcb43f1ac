import { describe, expect, it } from "vitest";
import {
  ACTIONS,
  assertTransition,
  canTransition,
  VPS_STATES,
  VPS_TRANSITIONS,
  type VpsState,
} from "./vps-state.js";

describe("VPS transition table", () => {
  it("covers every state and only names known states", () => {
    expect(Object.keys(VPS_TRANSITIONS).sort()).toEqual([...VPS_STATES].sort());
    for (const targets of Object.values(VPS_TRANSITIONS)) {
      for (const t of targets) expect(VPS_STATES).toContain(t);
    }
  });

  it("follows the documented lifecycle", () => {
    const path = ["pending", "provisioning", "running", "paused", "running", "stopping", "stopped"] as const;
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1], path[i])).toBe(true);
    expect(canTransition("running", "migrating")).toBe(true);
    expect(canTransition("migrating", "running")).toBe(true);
    expect(canTransition("deleting", "deleted")).toBe(true);
  });

  it("refuses illegal moves with a coded error", () => {
    expect(canTransition("pending", "running")).toBe(false);
    expect(canTransition("stopped", "paused")).toBe(false);
    expect(() => assertTransition("deleted", "running")).toThrow(
      expect.objectContaining({ code: "INVALID_TRANSITION" }),
    );
    // deleted is terminal
    expect(VPS_TRANSITIONS.deleted).toEqual([]);
  });

  it("lets every live state reach deleted, and every state reach error or deletion", () => {
    for (const s of VPS_STATES) {
      if (s === "deleted") continue;
      const seen = new Set<VpsState>([s]);
      const queue: VpsState[] = [s];
      while (queue.length) {
        for (const t of VPS_TRANSITIONS[queue.shift()!]) {
          if (!seen.has(t)) {
            seen.add(t);
            queue.push(t);
          }
        }
      }
      expect(seen.has("deleted"), `${s} can reach deleted`).toBe(true);
    }
  });

  it("defines actions whose moves are all legal (checked again at import)", () => {
    for (const spec of Object.values(ACTIONS)) {
      for (const from of spec.from) {
        if (spec.during) {
          expect(canTransition(from, spec.during)).toBe(true);
          expect(canTransition(spec.during, spec.to)).toBe(true);
        } else {
          expect(canTransition(from, spec.to)).toBe(true);
        }
      }
    }
  });
});
