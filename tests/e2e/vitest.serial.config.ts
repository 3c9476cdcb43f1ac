import { defineProject } from "vitest/config";

/**
 * End-to-end suites that load both cores for long stretches (many Linux guests at once, the QEMU
 * reference): they run one at a time, after the parallel suites.
 */
export const SERIAL = ["chaos/chaos.test.ts", "reference/qemu.test.ts", "migration-crash.test.ts"];

export default defineProject({
  test: {
    name: "e2e:serial",
    include: SERIAL,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    sequence: { groupOrder: 1 },
  },
});
