import { defineProject } from "vitest/config";
import { SERIAL } from "./vitest.serial.config.js";

export default defineProject({
  test: {
    name: "e2e",
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", ...SERIAL],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
