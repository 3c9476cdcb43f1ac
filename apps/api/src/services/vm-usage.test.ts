import { describe, expect, it } from "vitest";
import { VmUsageBoard } from "./vm-usage.js";

const vm = (vmId: string, cpuShare?: number) => ({
  vmId,
  epoch: 1,
  state: "running" as const,
  memoryBytes: 1024,
  ...(cpuShare === undefined ? {} : { cpuShare }),
});

describe("VmUsageBoard", () => {
  it("keeps each node's last report whole, and forgets a silent node", () => {
    const board = new VmUsageBoard(3000);
    board.report("n1", [vm("a", 0.5), vm("b")], 0);
    board.report("n2", [vm("c", 1)], 0);
    expect(board.current(1000).map((u) => [u.vmId, u.nodeId, u.cpuShare])).toEqual([
      ["a", "n1", 0.5],
      ["b", "n1", 0],
      ["c", "n2", 1],
    ]);
    // b left n1 (deleted, or migrated away): the next report says so.
    board.report("n1", [vm("a", 0.25)], 2000);
    expect(board.current(2500).map((u) => u.vmId)).toEqual(["a", "c"]);
    // n2 went silent for longer than staleMs.
    expect(board.current(4000).map((u) => u.vmId)).toEqual(["a"]);
  });
});
