import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "node-agent",
    include: ["src/**/*.test.ts"],
    globalSetup: ["./src/test-support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
