import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";

/**
 * Whether the build outputs a test suite runs against exist, for `describe.skipIf(!built)`.
 * Locally a suite may skip when a part is not built yet. Under CI (CI=true, as .ci/run sets) the
 * build ran first, so a missing output is a broken build or a wrong path, and a silent skip would
 * let it land green: this throws instead, and the suite fails to load, naming what is missing.
 */
export function builtForTests(root: string, paths: readonly string[], env = process.env): boolean {
  const missing = paths.filter((p) => !existsSync(isAbsolute(p) ? p : join(root, p)));
  if (missing.length === 0) return true;
  if (env.CI === "true" || env.CI === "1") {
    throw new Error(
      `CI: build outputs missing, the tests that need them would be skipped: ${missing.join(", ")} (run pnpm build first)`,
    );
  }
  return false;
}
