#!/usr/bin/env node
/**
 * Density benchmark: boots idle Linux VPSes (guests/linux) in one real agent, a few at a time,
 * until --max or until the host runs short of memory or a boot fails; then measures, over an idle
 * window, the host CPU each idle VPS costs (its whole VMM process, from /proc) and its memory.
 *
 *   pnpm --filter @skiff/node-agent bench:density [--max 24] [--mem 64] [--parallel 2] [--idle 10] [--json]
 */
import { readFileSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type AgentProcess,
  agentClient,
  call,
  killVmms,
  linuxVm,
  makeTempDir,
  startAgent,
  vmmPid,
} from "../test-support/harness.js";

const { values } = parseArgs({
  options: {
    max: { type: "string", default: "24" },
    mem: { type: "string", default: "64" },
    parallel: { type: "string", default: "2" },
    idle: { type: "string", default: "10" },
    "boot-timeout": { type: "string", default: "300" },
    json: { type: "boolean", default: false },
  },
});
const max = Number(values.max);
const memMib = Number(values.mem);
const parallel = Number(values.parallel);
const idleSeconds = Number(values.idle);
const bootTimeoutMs = Number(values["boot-timeout"]) * 1000;
const PROMPT = "skiff# ";
const CLK_TCK = 100;

const say = (s: string) => {
  if (!values.json) console.log(s);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memAvailable(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** utime + stime of a process, in seconds (all its threads). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rss(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]) * 4096;
}

function consoleOf(dataDir: string, id: string): string {
  try {
    return readFileSync(join(dataDir, "vms", id, "console.log"), "utf8");
  } catch {
    return "";
  }
}

const tmp = makeTempDir("skiff-density-");
const dataDir = join(tmp.path, "data");
let agent: AgentProcess | undefined;
const ids: string[] = [];
let stopReason = `reached --max ${max}`;
const bootSeconds: number[] = [];
try {
  agent = await startAgent({ dataDir });
  const client = agentClient(agent.port);
  // Keep a fifth of the host's memory (and room for the next batch) for everything else.
  const reserve = totalmem() / 5;
  while (ids.length < max) {
    const batch = Array.from(
      { length: Math.min(parallel, max - ids.length) },
      (_, i) => `vps-${ids.length + i + 1}`,
    );
    const perVm = ids.length > 0 ? rss(vmmPid(dataDir, ids[0]!)) : (memMib + 96) * 2 ** 20;
    if (memAvailable() - batch.length * perVm < reserve) {
      stopReason = `host memory: ${(memAvailable() / 2 ** 30).toFixed(1)} GiB available`;
      break;
    }
    const started = Date.now();
    try {
      await Promise.all(batch.map((id) => call(client, "createVm", linuxVm(id, memMib))));
    } catch (err) {
      stopReason = `CreateVm failed: ${(err as Error).message}`;
      break;
    }
    ids.push(...batch);
    const deadline = Date.now() + bootTimeoutMs;
    while (!batch.every((id) => consoleOf(dataDir, id).includes(PROMPT)) && Date.now() < deadline)
      await sleep(250);
    const failed = batch.filter((id) => !consoleOf(dataDir, id).includes(PROMPT));
    if (failed.length > 0) {
      stopReason = `${failed.join(", ")} did not reach the shell within ${bootTimeoutMs / 1000} s`;
      for (const id of failed)
        console.error(`--- ${id} console (tail) ---\n${consoleOf(dataDir, id).slice(-1500)}`);
      break;
    }
    bootSeconds.push((Date.now() - started) / 1000);
    say(
      `${ids.length} VPSes up (batch of ${batch.length} in ${bootSeconds[bootSeconds.length - 1]!.toFixed(1)} s)`,
    );
  }

  const booted = ids.filter((id) => consoleOf(dataDir, id).includes(PROMPT));
  say(`settling, then measuring ${idleSeconds} s of idle`);
  await sleep(5000);
  const pids = booted.map((id) => vmmPid(dataDir, id));
  const agentPid = agent.proc.child.pid ?? 0;
  const cpu0 = pids.map(cpuSeconds);
  const agentCpu0 = cpuSeconds(agentPid);
  const t0 = performance.now();
  await sleep(idleSeconds * 1000);
  const wall = (performance.now() - t0) / 1000;
  const cpuShare = pids.map((p, i) => (cpuSeconds(p) - cpu0[i]!) / wall);
  const agentShare = (cpuSeconds(agentPid) - agentCpu0) / wall;
  const rssBytes = pids.map(rss);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const meanRss = mean(rssBytes);
  const stats = await call(client, "nodeStats", {});
  const result = {
    booted: booted.length,
    stopReason,
    guestMemoryMib: memMib,
    meanBootSecondsPerBatch: mean(bootSeconds),
    parallel,
    idleCpuPercentPerVps: { mean: 100 * mean(cpuShare), max: 100 * Math.max(0, ...cpuShare) },
    idleCpuPercentAllVps: 100 * cpuShare.reduce((a, b) => a + b, 0),
    agentCpuPercent: 100 * agentShare,
    rssMibPerVps: { mean: meanRss / 2 ** 20, max: Math.max(0, ...rssBytes) / 2 ** 20 },
    agentRssMib: rss(agentPid) / 2 ** 20,
    hostMemoryGib: totalmem() / 2 ** 30,
    hostCpus: stats.cpus,
    /** How many such VPSes the host's memory holds (90% of RAM / measured RSS). */
    memoryBoundVps: Math.floor((totalmem() * 0.9) / meanRss),
  };
  client.close();
  if (values.json) console.log(JSON.stringify(result));
  else {
    console.log("");
    console.log(`| idle Linux VPSes (${memMib} MiB guest RAM) | ${result.booted} booted (${stopReason}) |`);
    console.log("|---|---|");
    console.log(
      `| host CPU per idle VPS | ${result.idleCpuPercentPerVps.mean.toFixed(2)}% of a core (max ${result.idleCpuPercentPerVps.max.toFixed(2)}%) |`,
    );
    console.log(`| host CPU, all idle VPSes | ${result.idleCpuPercentAllVps.toFixed(1)}% of a core |`);
    console.log(
      `| memory (RSS) per VPS | ${result.rssMibPerVps.mean.toFixed(0)} MiB (max ${result.rssMibPerVps.max.toFixed(0)}) |`,
    );
    console.log(
      `| agent | ${result.agentCpuPercent.toFixed(2)}% CPU, ${result.agentRssMib.toFixed(0)} MiB |`,
    );
    console.log(`| boot, ${parallel} at a time | ${result.meanBootSecondsPerBatch.toFixed(1)} s per batch |`);
    console.log(
      `| memory-bound N on this host | ${result.memoryBoundVps} (${result.hostMemoryGib.toFixed(0)} GiB, ${result.hostCpus} cores) |`,
    );
  }
} finally {
  await agent?.stop("SIGKILL");
  killVmms(dataDir);
  tmp.remove();
}
