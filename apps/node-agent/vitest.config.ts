import { defineProject } from "vitest/config";
import { SERIAL } from "./vitest.serial.config.js";

export default defineProject({
  test: {
    name: "node-agent",
    include: ["src/**/*.test.ts"],
    exclude: SERIAL,
    globalSetup: ["./src/test-support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
