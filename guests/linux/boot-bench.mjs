#!/usr/bin/env node
// Time from start to the shell prompt, and guest instructions to /init and to the shell, for the
// committed guest in hv-core (`hv boot`) and in QEMU, measured in the same run (interleaved, so
// both see the same host load). Each boot gets a fresh copy of rootfs.ext2 and the kernel
// parameter skiff.run="instret", so the shell prints the instruction count right before its first
// prompt; then `poweroff` must end the machine with status 0.
//
// hv-core counts instructions exactly. QEMU only does with -icount, which changes its speed, so
// QEMU boots twice per round: plain for the wall time, -icount for the counts.
// Beside the wall time, each side's CPU time to the prompt (user + system, all its threads, from
// /proc): under load the wall time is mostly the scheduler's, the CPU time much less so.
//
// Usage: node guests/linux/boot-bench.mjs [--runs N] [--json] [--no-hv] [--no-qemu] [--verbose]
// hv-core must be built first (pnpm --filter @skiff/hv-core build): `hv` is its bundle.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BOOT_TIMEOUT_MS, Guest, PROMPT } from "./serial-console.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const hvCli = join(here, "../../packages/hv-core/dist/bundle/main.js");
const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
    "no-hv": { type: "boolean", default: false },
    "no-qemu": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});
const runs = Number(opts.runs);
const RUN_PARAM = 'skiff.run="instret"';

/** CPU seconds (user + system, every thread) process `pid` has used so far; undefined off Linux. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command's ")": state is field 3, utime 14 and stime 15, in 1/100 s.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Boots once; returns wall ms and CPU seconds to the first prompt and the two instruction counts. */
async function boot(command, args) {
  const guest = new Guest(command, args, { verbose: opts.verbose });
  try {
    const atInit = await guest.expect(
      /init: started at [\d.]+ s, instret (\d+)\r?\n/,
      "/init",
      BOOT_TIMEOUT_MS,
    );
    const atShell = await guest.expect(/instret (\d+)\r?\n/, "instret from skiff.run", BOOT_TIMEOUT_MS);
    await guest.expect(PROMPT, "first prompt", BOOT_TIMEOUT_MS);
    const promptMs = performance.now() - guest.startedAt;
    const promptCpu = cpuSeconds(guest.child.pid);
    await guest.type("poweroff");
    const status = await guest.waitExit("poweroff");
    if (status !== 0) throw new Error(`poweroff ended the machine with status ${status}\n${guest.tail()}`);
    return { promptMs, promptCpu, toInit: Number(atInit[1]), toShell: Number(atShell[1]) };
  } finally {
    guest.kill();
  }
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

const work = mkdtempSync(join(tmpdir(), "skiff-boot-bench-"));
const results = { hv: [], qemu: [], qemuIcount: [] };
try {
  const disk = join(work, "disk.ext2");
  const fresh = () => copyFileSync(join(here, "rootfs.ext2"), disk);
  const useHv = !opts["no-hv"];
  if (useHv && !existsSync(hvCli)) throw new Error(`${hvCli} missing: pnpm --filter @skiff/hv-core build`);
  for (let i = 0; i < runs; i++) {
    if (useHv) {
      fresh();
      const args = [hvCli, "boot", "--kernel", join(here, "Image"), "--initrd", join(here, "initramfs.cpio")];
      results.hv.push(await boot(process.execPath, [...args, "--disk", disk, "--append", RUN_PARAM]));
    }
    if (!opts["no-qemu"]) {
      const qemuArgs = ["--disk", disk, "--append", RUN_PARAM];
      fresh();
      results.qemu.push(await boot(join(here, "qemu-boot.sh"), qemuArgs));
      fresh();
      results.qemuIcount.push(await boot(join(here, "qemu-boot.sh"), [...qemuArgs, "--icount"]));
    }
  }
  const report = {
    runs,
    hv: results.hv.length
      ? {
          promptMs: summary(results.hv.map((r) => r.promptMs)),
          promptCpuSeconds: summary(results.hv.map((r) => r.promptCpu ?? Number.NaN)),
          instructionsToInit: summary(results.hv.map((r) => r.toInit)),
          instructionsToShell: summary(results.hv.map((r) => r.toShell)),
        }
      : null,
    qemu: results.qemu.length
      ? {
          promptMs: summary(results.qemu.map((r) => r.promptMs)),
          promptCpuSeconds: summary(results.qemu.map((r) => r.promptCpu ?? Number.NaN)),
          instructionsToInit: summary(results.qemuIcount.map((r) => r.toInit)),
          instructionsToShell: summary(results.qemuIcount.map((r) => r.toShell)),
        }
      : null,
  };
  if (opts.json) {
    console.log(JSON.stringify(report));
  } else {
    const fmt = (s, unit, scale = 1) =>
      `${(s.median / scale).toFixed(unit === "ms" ? 0 : 2)} ${unit} (min ${(s.min / scale).toFixed(unit === "ms" ? 0 : 2)}, max ${(s.max / scale).toFixed(unit === "ms" ? 0 : 2)})`;
    for (const [name, r] of [
      ["hv-core", report.hv],
      ["QEMU", report.qemu],
    ]) {
      if (!r) continue;
      console.log(`${name}: start to prompt ${fmt(r.promptMs, "ms")}`);
      console.log(`${name}: CPU to prompt ${fmt(r.promptCpuSeconds, "s")}`);
      console.log(`${name}: instructions to /init ${fmt(r.instructionsToInit, "M", 1e6)}`);
      console.log(`${name}: instructions to the shell ${fmt(r.instructionsToShell, "M", 1e6)}`);
    }
    console.log(`${runs} run(s) each; medians, interleaved hv-core / QEMU / QEMU -icount`);
  }
} catch (err) {
  console.error(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
