import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * Agent and VMM processes run the built JS: compile this package before its tests. Both of the
 * package's test projects name this setup; the variable makes the second one a no-op.
 */
export default function setup(): void {
  if (process.env.SKIFF_AGENT_COMPILED_FOR_TESTS) return;
  const pkg = join(import.meta.dirname, "..", "..");
  execFileSync(
    process.execPath,
    [join(pkg, "..", "..", "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"],
    {
      cwd: pkg,
      stdio: "inherit",
    },
  );
  process.env.SKIFF_AGENT_COMPILED_FOR_TESTS = "1";
}
