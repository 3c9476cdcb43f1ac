import { describe, expect, it } from "vitest";
import { agentMemoryShare } from "./plan.js";

const GiB = 2 ** 30;

describe("agentMemoryShare", () => {
  it("shares out half the host between the agents, in whole MiB", () => {
    expect(agentMemoryShare(3, 0, 24 * GiB)).toBe(4 * GiB);
    expect(agentMemoryShare(3, 0, 10 * GiB) % 2 ** 20).toBe(0);
    expect(3 * agentMemoryShare(3, 0, 10 * GiB)).toBeLessThanOrEqual(5 * GiB);
  });

  it("takes a configured amount as is", () => {
    expect(agentMemoryShare(3, 2 * GiB, 24 * GiB)).toBe(2 * GiB);
  });
});
