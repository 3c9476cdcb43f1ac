import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";
import { LongestFirst } from "./vitest.sequencer.js";

// One runner for the whole repo: each package and tests/e2e is a project with its own config.
// Most suites spend their time waiting on real processes (agents, PostgreSQL, Redis), so two run
// at once even on a 2-core machine; the few that load both cores have a `:serial` project of their
// own that runs after them, one file at a time. In each group the longest files start first.
export default defineConfig({
  test: {
    projects: [
      "packages/*",
      "apps/*",
      "tests/e2e",
      "apps/node-agent/vitest.serial.config.ts",
      "tests/e2e/vitest.serial.config.ts",
    ],
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirst },
  },
});
