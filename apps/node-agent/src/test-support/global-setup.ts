import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** Agent and VMM processes run the built JS: compile this package before its tests. */
export default function setup(): void {
  const pkg = join(import.meta.dirname, "..", "..");
  execFileSync(
    process.execPath,
    [join(pkg, "..", "..", "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"],
    {
      cwd: pkg,
      stdio: "inherit",
    },
  );
}
