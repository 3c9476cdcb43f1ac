#!/usr/bin/env node
// Every check `npm test` runs, after bootstrap: typecheck, lint, then all tests in one vitest run
// (unit, integration and e2e), closing with one summary line CI can read.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const env = {
  ...process.env,
  PATH: [
    join(root, ".skiff", "tools", "node_modules", ".bin"),
    join(root, "node_modules", ".bin"),
    process.env.PATH,
  ].join(delimiter),
  TURBO_TELEMETRY_DISABLED: "1",
};
const step = (name, cmd, args) => {
  console.log(`[test] ${name}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, env });
  return r.status === 0;
};

let ok = step("typecheck", "turbo", ["run", "typecheck", "--output-logs=errors-only"]);
ok = step("lint", "biome", ["check", "--diagnostic-level=error", "."]) && ok;
mkdirSync(join(root, ".skiff"), { recursive: true });
const report = join(root, ".skiff", "test-report.json");
const extra = process.argv.slice(2);
ok =
  step("tests", "vitest", [
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...extra,
  ]) && ok;

if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, "utf8"));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A suite that fails to load has no failed test of its own; count it so the line never hides it.
  const brokenSuites = (r.testResults ?? []).filter(
    (s) => s.status === "failed" && !(s.assertionResults ?? []).some((a) => a.status === "failed"),
  ).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenSuites} failed, ${skipped} skipped`);
}
process.exit(ok ? 0 : 1);
