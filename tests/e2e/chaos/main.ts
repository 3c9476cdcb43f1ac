/**
 * `pnpm chaos [--seed N] [--minutes M] [--vpses N] [--json]`: a seeded chaos run against a real
 * region on this host (see run.ts). Prints progress and a report; with --json the last line is the
 * report as one object. Exits 1 when any invariant was violated.
 */
import { parseArgs } from "node:util";
import { type ChaosReport, runChaos } from "./run.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "20261207" },
    minutes: { type: "string", default: "10" },
    vpses: { type: "string", default: "12" },
    json: { type: "boolean", default: false },
  },
});
const num = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got ${v}`);
    process.exit(2);
  }
  return n;
};

const report = await runChaos({
  seed: num("seed", values.seed),
  minutes: num("minutes", values.minutes),
  vpses: num("vpses", values.vpses),
  log: (l) => console.error(`[chaos ${new Date().toISOString().slice(11, 19)}] ${l}`),
});
if (values.json) console.log(JSON.stringify(report));
else console.log(summary(report));
process.exit(report.violations.length === 0 ? 0 : 1);

function summary(r: ChaosReport): string {
  const kv = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  return [
    `seed ${r.seed}, ${r.minutes} min, ${r.vpses} VPSes`,
    `migrations: ${r.migrations} (${kv(r.migrationsByTrigger)}); outcomes: ${kv(r.outcomes)}`,
    `faults: ${kv(r.faults)}; recovery p50 ${r.recoveryMs.p50} ms, p99 ${r.recoveryMs.p99} ms`,
    `cold starts by recovery ${r.coldStarts}; lost ${r.lostVps}, doubled ${r.doubledVps}, guest-state losses ${r.guestStateLosses}, violations ${r.violations.length}`,
    ...r.violations.map((v) => `  - ${v.kind}${v.vpsId ? ` ${v.vpsId}` : ""} at ${v.atMs} ms: ${v.evidence}`),
  ].join("\n");
}
