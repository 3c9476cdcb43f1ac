import { defineConfig } from "vitest/config";

// One runner for the whole repo: each package and tests/e2e is a project with its own config.
export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tests/e2e"],
  },
});
