#!/usr/bin/env node
// Writes tests/durations.json, the per-file estimates vitest.sequencer.ts orders a clean clone's
// run by, from the last `npm test`'s report (.skiff/test-report.json). Files under a second are
// left out: their order does not matter.
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const report = JSON.parse(readFileSync(join(root, ".skiff", "test-report.json"), "utf8"));
const rows = report.testResults
  .map((s) => [relative(root, s.name), Math.round((s.endTime - s.startTime) / 1000)])
  .filter(([, s]) => s >= 1)
  .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
writeFileSync(
  join(root, "tests", "durations.json"),
  `${JSON.stringify(Object.fromEntries(rows), null, 2)}\n`,
);
console.log(`tests/durations.json: ${rows.length} files`);
