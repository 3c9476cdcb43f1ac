import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "proto",
    // Files share a worker's module cache: importing afresh for each small file cost more than running it.
    isolate: false,
    include: ["src/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
