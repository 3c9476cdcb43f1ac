import { describe, expect, it } from "vitest";
import { chartColumns, finished, roundsOf } from "./rounds.js";

describe("pre-copy rounds for the chart", () => {
  it("reads the agent's records, numbering rounds that lack one and zeroing missing figures", () => {
    const rounds = roundsOf({
      rounds: [
        {
          round: 1,
          phase: "precopy",
          pages: 256,
          bytes: 1048576,
          ms: 12,
          dirtyPagesPerSec: 40,
          throttlePercent: 0,
        },
        { phase: "stopcopy", pages: 3, dirtyPagesPerSec: "n/a" },
      ],
    });
    expect(rounds[1]).toEqual({
      round: 2,
      phase: "stopcopy",
      pages: 3,
      bytes: 0,
      ms: 0,
      dirtyPagesPerSec: 0,
      throttlePercent: 0,
    });
    expect(chartColumns(rounds)).toEqual([
      [1, 2],
      [256, 3],
      [40, 0],
      [0, 0],
    ]);
  });

  it("knows which migration states are final", () => {
    expect(["completed", "rolled-back", "failed"].every(finished)).toBe(true);
    expect(["queued", "precopy", "stopcopy", "committing"].some(finished)).toBe(false);
  });
});
