import { defineProject } from "vitest/config";

/**
 * The agent's suites that load both cores for long stretches (guests dirtying memory as fast as
 * they can, CPU caps measured): they run one at a time, after the parallel suites, so neither they
 * nor their neighbours see a verdict shaped by the other's load.
 */
export const SERIAL = [
  "src/agent.migration.test.ts",
  "src/agent.migration-faults.test.ts",
  "src/agent.firmware.test.ts",
];

export default defineProject({
  test: {
    name: "node-agent:serial",
    include: SERIAL,
    globalSetup: ["./src/test-support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    sequence: { groupOrder: 1 },
  },
});
