#!/usr/bin/env node
// Renders docs/configuration.md from the typed config specs of each app (their built dist), so
// the configuration reference can never drift from the code. `--check` fails if the file is stale.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..");
const sources = [
  ["API (apps/api)", "apps/api/dist/config.js"],
  ["Node agent (apps/node-agent)", "apps/node-agent/dist/config.js"],
  ["Local cluster (npm start)", "packages/devkit/dist/cluster/config.js"],
];

const isField = (v) =>
  v && typeof v === "object" && typeof v.env === "string" && typeof v.parse === "function";
const isSpec = (v) =>
  v && typeof v === "object" && Object.values(v).length > 0 && Object.values(v).every(isField);

export async function renderConfigDocs() {
  const { describeConfig } = await import(pathToFileURL(join(root, "packages/common/dist/index.js")).href);
  const parts = [
    "# Configuration reference",
    "",
    "Every Skiff process is configured by environment variables, parsed and validated at start: a bad",
    "value stops the process with a message naming the variable. This file is generated from the code",
    "(`node scripts/config-docs.mjs`); a test fails when it is stale.",
    "",
  ];
  for (const [title, file] of sources) {
    const path = join(root, file);
    if (!existsSync(path)) continue;
    const mod = await import(pathToFileURL(path).href);
    // A module may hold several programs' specs (e.g. the API server and its migrate tool). Sorted
    // by name: a module namespace's key order differs between Node and vitest's module runner.
    const specs = Object.entries(mod)
      .filter(([, v]) => isSpec(v))
      .sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [name, spec] of specs) {
      const program = name.replace(/Spec$/, "");
      parts.push(describeConfig(specs.length > 1 ? `${title}: ${program}` : title, spec));
    }
  }
  return `${parts.join("\n").trimEnd()}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = join(root, "docs", "configuration.md");
  const text = await renderConfigDocs();
  if (process.argv.includes("--check")) {
    const current = existsSync(out) ? readFileSync(out, "utf8") : "";
    if (current !== text) {
      console.error("docs/configuration.md is stale: run node scripts/config-docs.mjs");
      process.exit(1);
    }
  } else {
    writeFileSync(out, text);
    console.log("wrote docs/configuration.md");
  }
}
