#!/usr/bin/env node
/**
 * Live-migration benchmark: two real agent processes on 127.0.0.1, the Linux guest (guests/linux)
 * migrated back and forth between them, idle or running `dirty <MiB> <rate>` (a working set of a
 * quarter of its RAM rewritten at that rate). Per scenario: downtime p50/p90/p99/max (source pause
 * to the destination's first guest instruction), total time, rounds, bytes sent against the
 * guest's non-zero RAM, and the page throughput of the link (round 0). The first `--cold` hops
 * (code not yet compiled in either agent) are reported apart, not in the percentiles.
 *
 * The pause, hop by hop (`breakdown`, ms after the source's vCPU stopped, one host clock in both
 * VMMs): last page sent, device state sent, state arrived at the destination, commit verified,
 * device state restored, commit point, first guest instruction (= the downtime), commit answer.
 *
 * A scenario measures the link itself: a 256 MiB guest whose workload wrote 192 MiB once and
 * stopped, so round 0 carries mostly data (not zero-page scanning) while the vCPU is idle. One runs
 * under load: `--load` CPU-bound processes beside the agents (64 MiB, dirty at 20 MiB/s). Last,
 * suspend to disk and restore: restore request to the guest's first instruction, with the VMM
 * process start apart.
 *
 *   pnpm bench:migration [--guests 64,256] [--rates 0,20,100] [--hops 22] [--cold 2] [--load 1]
 *     [--suspends 5] [--downtime 15] [--no-link] [--tls on|off] [--keep] [--json]
 *
 * `--tls off` runs the agents, and so the streams, in plaintext: the reference for the cost of
 * mutual TLS (the default, as in production).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { MigrationOutcome, type MigrationResult, type StopCopyBreakdown } from "@skiff/proto";
import {
  type AgentProcess,
  agentClient,
  ConsoleViewer,
  call,
  killVmms,
  linuxVm,
  makeTempDir,
  startAgent,
  waitUntil,
} from "../test-support/harness.js";
import { startHop } from "../test-support/migration-rpcs.js";

const { values } = parseArgs({
  options: {
    guests: { type: "string", default: "64,256" },
    rates: { type: "string", default: "0,20,100" },
    hops: { type: "string", default: "22" },
    cold: { type: "string", default: "2" },
    load: { type: "string", default: "1" },
    suspends: { type: "string", default: "5" },
    // The target the bench measures against (issue: p99 <= 15 ms), asked for as such.
    downtime: { type: "string", default: "15" },
    keep: { type: "boolean", default: false },
    "no-link": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    tls: { type: "string", default: "on" },
  },
});
const guests = values.guests.split(",").map(Number);
// "" runs none of these scenarios (only the link, load and suspend ones).
const rates = values.rates === "" ? [] : values.rates.split(",").map(Number);
const hops = Number(values.hops);
const coldHops = Math.min(Number(values.cold), hops - 1);
const loadProcs = Number(values.load);
const say = (s: string) => {
  if (!values.json) console.log(s);
};

export interface ScenarioResult {
  guestMiB: number;
  /** What the guest does: idle, a quarter of its RAM rewritten at dirtyMiBps, or RAM written once. */
  workload: string;
  workingSetMiB: number;
  dirtyMiBps: number;
  migrations: number;
  /** Over the hops after the cold ones. */
  downtimeP50Ms: number;
  downtimeP99Ms: number;
  downtimeP90Ms: number;
  downtimeMaxMs: number;
  /** The first hops' downtimes, apart. */
  coldDowntimesMs: number[];
  /** CPU-bound processes running beside the agents. */
  loadProcesses: number;
  totalMs: number;
  rounds: number;
  bytesSent: number;
  nonZeroBytes: number;
  throughputMBps: number;
  maxThrottlePercent: number;
  /** Each step of the pause (ms after it began) over the hops after the cold ones. */
  breakdown: Record<Step, Spread>;
}

/** The steps of the pause, in order (StopCopyBreakdown's fields). */
const STEPS = [
  "lastPageSentMs",
  "deviceStateSentMs",
  "stateArrivedMs",
  "verifiedMs",
  "restoredMs",
  "commitPointMs",
  "firstInstructionMs",
  "committedAnswerMs",
] as const satisfies readonly (keyof StopCopyBreakdown)[];
type Step = (typeof STEPS)[number];

interface Spread {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function spread(xs: number[]): Spread {
  return {
    p50: round1(percentile(xs, 50)),
    p90: round1(percentile(xs, 90)),
    p99: round1(percentile(xs, 99)),
    max: round1(Math.max(0, ...xs)),
  };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  // Nearest rank: with 10 samples p99 is the largest.
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const median = (xs: number[]) => percentile(xs, 50);

/** Link throughput of a migration: its largest round (round 0), bytes over time. */
function throughput(r: MigrationResult): number {
  const rounds = r.stats?.rounds ?? [];
  const big = rounds.reduce((a, b) => (b.bytes > a.bytes ? b : a), rounds[0]!);
  return big && big.ms > 0 ? big.bytes / big.ms / 1000 : 0;
}

async function main(): Promise<void> {
  const tmp = makeTempDir("skiff-bench-migration-");
  const dirs = [join(tmp.path, "a"), join(tmp.path, "b")];
  const agents: AgentProcess[] = await Promise.all(
    dirs.map((d) => startAgent({ dataDir: d, env: { SKIFF_TLS: values.tls === "off" ? "off" : "on" } })),
  );
  const clients = agents.map((a) => agentClient(a.port));
  const results: ScenarioResult[] = [];
  const suspends: SuspendResult[] = [];
  try {
    for (const guestMiB of guests) {
      for (const rate of rates) {
        const r = await scenario(guestMiB, rate > 0 ? { kind: "dirty", rate } : { kind: "idle" });
        results.push(r);
        if (values.json) console.log(JSON.stringify(r));
      }
    }
    if (!values["no-link"]) {
      const r = await scenario(256, { kind: "filled", mib: 192 });
      results.push(r);
      if (values.json) console.log(JSON.stringify(r));
    }
    if (loadProcs > 0) {
      const r = await scenario(64, { kind: "dirty", rate: 20 }, loadProcs);
      results.push(r);
      if (values.json) console.log(JSON.stringify(r));
    }
    for (const guestMiB of Number(values.suspends) > 0 ? guests : []) {
      const r = await suspendRestore(guestMiB, Number(values.suspends));
      suspends.push(r);
      if (values.json) console.log(JSON.stringify(r));
    }
  } finally {
    for (const c of clients) c.close();
    await Promise.all(agents.map((a) => a.stop()));
    for (const d of dirs) killVmms(d);
    if (values.keep) console.error(`kept ${tmp.path}`);
    else tmp.remove();
  }
  if (!values.json) {
    printTable(results);
    printBreakdown(results);
    printSuspends(suspends);
  }

  async function scenario(guestMiB: number, load: Workload, hogs = 0): Promise<ScenarioResult> {
    const rate = load.kind === "dirty" ? load.rate : 0;
    const vmId = `bench-${guestMiB}-${load.kind}-${rate}${hogs > 0 ? "-loaded" : ""}`;
    const req = linuxVm(vmId, guestMiB);
    await call(clients[0]!, "createVm", req);
    let viewer = new ConsoleViewer(clients[0]!, vmId, 1);
    await viewer.waitFor("skiff# ", 300_000);
    const workingSet =
      load.kind === "filled" ? load.mib : load.kind === "dirty" ? Math.max(4, guestMiB / 4) : 0;
    if (load.kind === "dirty") {
      viewer.type(`dirty ${workingSet} ${rate} &\n`);
      await viewer.waitFor(`dirty: ${workingSet} MiB`, 60_000);
      // Let it sweep the working set once, so the pages hold data.
      await new Promise((r) => setTimeout(r, Math.min(10_000, (workingSet / rate) * 1000 + 1000)));
    } else if (load.kind === "filled") {
      // Write the buffer (as fast as the guest can, for a bounded time), then stop: RAM holds data.
      viewer.type(`dirty ${workingSet} 1000 ${FILL_SECONDS}\n`);
      await viewer.waitFor("dirty: stopped after", FILL_SECONDS * 1000 + 60_000);
    }
    say(
      `${guestMiB} MiB guest, ${describe(load, workingSet)}: ${hops} migrations` +
        (hogs > 0 ? `, ${hogs} CPU-bound processes beside` : ""),
    );
    const burners = startBurners(hogs);
    let on = 0;
    let epoch = 1;
    const out: MigrationResult[] = [];
    try {
      for (let i = 0; i < hops; i++) {
        const to = 1 - on;
        const h = await startHop({
          from: clients[on]!,
          to: clients[to]!,
          toAgentAddress: `127.0.0.1:${agents[to]!.port}`,
          vmId,
          epoch,
          spec: req.spec!,
          migrationId: `${vmId}-${i}`,
          options: {
            maxDowntimeMs: Number(values.downtime),
            bandwidthBytesPerSec: 0,
            maxRounds: 0,
            timeoutMs: 0,
            disableAutoConverge: false,
            compression: 0,
          },
        });
        const r = await h.done;
        if (r.outcome !== MigrationOutcome.MIGRATION_OUTCOME_COMMITTED) {
          throw new Error(`migration ${i} of ${vmId}: ${r.errorCode} ${r.errorMessage}`);
        }
        const s = r.stats!;
        say(
          `  #${i + 1} -> ${to === 0 ? "a" : "b"}: downtime ${s.downtimeMs.toFixed(1)} ms, ${s.rounds.length} rounds, ` +
            `${(s.bytesSent / 1048576).toFixed(1)} MiB sent, ${s.totalMs.toFixed(0)} ms, ${throughput(r).toFixed(0)} MB/s` +
            (s.maxThrottlePercent ? `, throttle ${s.maxThrottlePercent}%` : ""),
        );
        // Where this hop's pause went (ms after the source's vCPU stopped).
        if (values.verbose) console.error(`    ${JSON.stringify(s.stopCopy)}`);
        out.push(r);
        on = to;
        epoch++;
      }
    } finally {
      for (const b of burners) b.kill();
    }
    viewer.close();
    viewer = new ConsoleViewer(clients[on]!, vmId, epoch);
    viewer.type("\n");
    await waitUntil("guest answers after the last hop", () => viewer.text.includes("skiff# "), {
      timeoutMs: 30_000,
    });
    viewer.close();
    await call(clients[on]!, "destroyVm", { ref: { vmId, epoch } });
    const stats = out.slice(coldHops).map((r) => r.stats!);
    const downtimes = stats.map((s) => s.downtimeMs);
    const breakdown = {} as Record<Step, Spread>;
    for (const step of STEPS) breakdown[step] = spread(stats.map((s) => s.stopCopy?.[step] ?? 0));
    return {
      guestMiB,
      workload: describe(load, workingSet),
      workingSetMiB: workingSet,
      dirtyMiBps: rate,
      migrations: out.length,
      downtimeP50Ms: round1(median(downtimes)),
      downtimeP99Ms: round1(percentile(downtimes, 99)),
      downtimeP90Ms: round1(percentile(downtimes, 90)),
      downtimeMaxMs: round1(Math.max(...downtimes)),
      coldDowntimesMs: out.slice(0, coldHops).map((r) => round1(r.stats!.downtimeMs)),
      loadProcesses: hogs,
      totalMs: Math.round(median(stats.map((s) => s.totalMs))),
      rounds: median(stats.map((s) => s.rounds.length)),
      bytesSent: Math.round(median(stats.map((s) => s.bytesSent))),
      nonZeroBytes: Math.round(median(stats.map((s) => s.nonzeroBytes))),
      throughputMBps: Math.round(median(out.map(throughput))),
      maxThrottlePercent: Math.max(...stats.map((s) => s.maxThrottlePercent)),
      breakdown,
    };
  }

  /**
   * Suspends a booted guest to disk and restores it, `times` times: restore request to the first
   * guest instruction, split where the VMM's log says its process and its vCPU worker started.
   */
  async function suspendRestore(guestMiB: number, times: number): Promise<SuspendResult> {
    const vmId = `bench-suspend-${guestMiB}`;
    const client = clients[0]!;
    await call(client, "createVm", linuxVm(vmId, guestMiB));
    const viewer = new ConsoleViewer(client, vmId, 1);
    await viewer.waitFor("skiff# ", 300_000);
    viewer.close();
    say(`${guestMiB} MiB guest: ${times} suspends and restores`);
    const rows: SuspendTimes[] = [];
    for (let i = 0; i < times; i++) {
      await call(client, "suspendVm", { ref: { vmId, epoch: 1 } });
      const requestAtMs = performance.timeOrigin + performance.now();
      await call(client, "resumeSuspendedVm", { ref: { vmId, epoch: 1 } });
      const answerAtMs = performance.timeOrigin + performance.now();
      const log = readFileSync(join(dirs[0]!, "vms", vmId, "vmm.log"), "utf8");
      const line = log.split("\n").findLast((l) => l.includes('"guest running"'));
      const j = JSON.parse(line ?? "{}") as Record<string, number | undefined>;
      // A VMM that does not log a time (an older build) leaves it NaN (null in --json).
      const after = (atMs: number | undefined) => (atMs ?? Number.NaN) - requestAtMs;
      const t: SuspendTimes = {
        vmmStartMs: after(j.vmmStartAtMs),
        workerCreatedMs: after(j.workerCreatedAtMs),
        workerLoadedMs: after(j.workerLoadedAtMs),
        restoreMs: j.buildMs ?? Number.NaN,
        firstInstructionMs: after(j.firstInstructionAtMs),
        answerMs: answerAtMs - requestAtMs,
      };
      say(
        `  #${i + 1}: first instruction ${t.firstInstructionMs.toFixed(1)} ms after the request ` +
          `(VMM process ${t.vmmStartMs.toFixed(1)}, vCPU worker created ${t.workerCreatedMs.toFixed(1)}, loaded ${t.workerLoadedMs.toFixed(1)}, ` +
          `read + restore ${t.restoreMs.toFixed(1)} ms), answer ${t.answerMs.toFixed(0)} ms`,
      );
      rows.push(t);
    }
    await call(client, "destroyVm", { ref: { vmId, epoch: 1 } });
    const of = (k: keyof SuspendTimes) => spread(rows.slice(1).map((r) => r[k]));
    return {
      guestMiB,
      restores: rows.length,
      coldFirstInstructionMs: round1(rows[0]!.firstInstructionMs),
      vmmStartMs: of("vmmStartMs"),
      workerCreatedMs: of("workerCreatedMs"),
      workerLoadedMs: of("workerLoadedMs"),
      restoreMs: of("restoreMs"),
      firstInstructionMs: of("firstInstructionMs"),
      answerMs: of("answerMs"),
    };
  }
}

/** One restore, ms after the request (restoreMs: its own duration in the vCPU worker). */
interface SuspendTimes {
  vmmStartMs: number;
  workerCreatedMs: number;
  workerLoadedMs: number;
  restoreMs: number;
  firstInstructionMs: number;
  answerMs: number;
}

export interface SuspendResult {
  guestMiB: number;
  restores: number;
  /** The first restore, apart (not in the spreads). */
  coldFirstInstructionMs: number;
  vmmStartMs: Spread;
  workerCreatedMs: Spread;
  workerLoadedMs: Spread;
  restoreMs: Spread;
  firstInstructionMs: Spread;
  answerMs: Spread;
}

/** CPU-bound processes (a busy loop each), niced like nothing else: ordinary load on the host. */
function startBurners(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
}

type Workload = { kind: "idle" } | { kind: "dirty"; rate: number } | { kind: "filled"; mib: number };
/** How long the filled scenario's writer runs (long enough to sweep its whole buffer). */
const FILL_SECONDS = 4;

function describe(load: Workload, workingSetMiB: number): string {
  if (load.kind === "dirty") return `dirty ${workingSetMiB} MiB at ${load.rate} MiB/s`;
  if (load.kind === "filled") return `${workingSetMiB} MiB written once, then idle`;
  return "idle";
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function printTable(rows: ScenarioResult[]): void {
  const mib = (b: number) => (b / 1048576).toFixed(1);
  console.log("");
  console.log(
    "| guest | workload | downtime p50 | p90 | p99 | max | cold hops | total (p50) | rounds (p50) | sent / non-zero RAM | link throughput | max throttle |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.guestMiB} MiB | ${r.workload}${r.loadProcesses > 0 ? `, ${r.loadProcesses} CPU-bound beside` : ""} | ` +
        `${r.downtimeP50Ms} ms | ${r.downtimeP90Ms} ms | ${r.downtimeP99Ms} ms | ${r.downtimeMaxMs} ms | ` +
        `${r.coldDowntimesMs.join(", ")} ms | ${r.totalMs} ms | ${r.rounds} | ` +
        `${mib(r.bytesSent)} / ${mib(r.nonZeroBytes)} MiB (${(r.bytesSent / Math.max(1, r.nonZeroBytes)).toFixed(2)}x) | ` +
        `${r.throughputMBps} MB/s | ${r.maxThrottlePercent}% |`,
    );
  }
}

function printBreakdown(rows: ScenarioResult[]): void {
  console.log("\nThe pause, ms after the source's vCPU stopped (p50 / p99 / max):\n");
  console.log(`| guest | workload | ${STEPS.join(" | ")} |`);
  console.log(`|---|---|${STEPS.map(() => "---").join("|")}|`);
  for (const r of rows) {
    const cells = STEPS.map((k) => `${r.breakdown[k].p50} / ${r.breakdown[k].p99} / ${r.breakdown[k].max}`);
    console.log(
      `| ${r.guestMiB} MiB | ${r.workload}${r.loadProcesses > 0 ? ", loaded" : ""} | ${cells.join(" | ")} |`,
    );
  }
}

function printSuspends(rows: SuspendResult[]): void {
  if (rows.length === 0) return;
  console.log("\nRestore from a suspend, ms after the request (p50 / max; the first restore apart):\n");
  console.log(
    "| guest | VMM process started | vCPU worker created | loaded | read + restore | first instruction | answer | first restore |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  const c = (s: Spread) => `${s.p50} / ${s.max}`;
  for (const r of rows) {
    console.log(
      `| ${r.guestMiB} MiB | ${c(r.vmmStartMs)} | ${c(r.workerCreatedMs)} | ${c(r.workerLoadedMs)} | ${c(r.restoreMs)} | ${c(r.firstInstructionMs)} | ${c(r.answerMs)} | ${r.coldFirstInstructionMs} |`,
    );
  }
}

await main();
