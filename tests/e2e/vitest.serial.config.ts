import { defineProject } from "vitest/config";

/**
 * End-to-end suites that load both cores for long stretches (many Linux guests at once): they run
 * one at a time, after the parallel suites. (The QEMU reference runs with the others: one QEMU
 * process, and its checks have no clock in them.)
 */
export const SERIAL = ["chaos/chaos.test.ts", "migration-crash.test.ts"];

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
