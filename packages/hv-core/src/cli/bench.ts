import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SkiffError } from "@skiff/common";
import { parseElf } from "../loader/elf.js";
import { Machine } from "../machine/machine.js";
import { benchQemu, benchQemuLinuxBoot } from "./bench-qemu.js";
import { LINUX_DIR, timeBootToPrompt } from "./boot-timing.js";

/** Where the benchmark guests live (committed ELFs; guests/bench/build.sh rebuilds them). */
const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../guests/bench/build");
const MEMORY = 64 << 20;

export interface BenchResult {
  name: string;
  instructions: number;
  seconds: number;
  /** CPU seconds (user + system, every thread: V8's compiler threads too) over the same span. */
  cpuSeconds?: number;
  mips: number;
  engine: "jit" | "interpreter";
  /** What the seconds include, and QEMU's beside them. */
  timed: string;
  /** With the JIT: regions translated over the run and the cache at its end (regions, source bytes). */
  translated?: number;
  cacheBlocks?: number;
  cacheSourceBytes?: number;
  /** With the JIT: instructions retired in translated code (the rest ran on the interpreter). */
  translatedInstructions?: number;
  /**
   * With the JIT: the run after the machine's warm-up, the instructions it interprets from reset
   * before it translates anything (JitOptions.startAfter: what a VPS does once, in its boot).
   */
  afterWarmUp?: { instructions: number; seconds: number; cpuSeconds: number; mips: number };
}

function jitStats(machine: Machine): Partial<BenchResult> {
  const jit = machine.hart.jit;
  if (!jit) return {};
  const s = jit.stats();
  return {
    translated: s.translated,
    cacheBlocks: s.blocks,
    cacheSourceBytes: s.sourceBytes,
    translatedInstructions: jit.retiredInBlocks,
  };
}

/** Runs one benchmark ELF to its HTIF exit with the host clock and dirty tracking on. */
export function benchGuest(path: string, jit: boolean): BenchResult {
  const image = readFileSync(path);
  const machine = Machine.create({ mode: "firmware", memoryBytes: MEMORY, image, jit });
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  // With translation, the first slice ends where the machine starts translating (it interprets
  // until then), so the row can also say the speed after that warm-up.
  const warmUp = machine.hart.jit?.startAfter ?? 0;
  let warm: { retired: number; at: bigint; cpu: NodeJS.CpuUsage } | undefined;
  for (;;) {
    const exit = machine.run(warm === undefined && warmUp > 0 ? warmUp - machine.hart.retired : 50_000_000);
    if (exit.kind === "htif") {
      if (exit.code !== 0) throw new Error(`${basename(path)} failed (code ${exit.code})`);
      break;
    }
    if (exit.kind !== "budget") throw new Error(`${basename(path)} stopped: ${exit.kind}`);
    if (warm === undefined && machine.hart.retired >= warmUp)
      warm = { retired: machine.hart.retired, at: process.hrtime.bigint(), cpu: process.cpuUsage() };
  }
  const end = process.hrtime.bigint();
  const seconds = Number(end - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  // The guest's own minstret at its exit (exact), else the machine's count (which includes the
  // spin after the tohost write until the run slice ended).
  const result = parseElf(image).symbols.get("bench_result");
  const instructions =
    result !== undefined && machine.ram.contains(result, 8)
      ? machine.ram.readU32(result + 4) * 2 ** 32 + machine.ram.readU32(result)
      : machine.instret;
  return {
    name: basename(path, ".elf"),
    instructions,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mips: instructions / seconds / 1e6,
    engine: jit ? "jit" : "interpreter",
    timed:
      "machine creation to the guest's exit, in the bench's process (QEMU: spawn to exit); cpuRatio compares CPU seconds, which a loaded machine moves far less than wall time",
    ...jitStats(machine),
    ...(warm === undefined || warmUp === 0
      ? {}
      : afterWarmUp(instructions - warm.retired, Number(end - warm.at) / 1e9, process.cpuUsage(warm.cpu))),
  };
}

function afterWarmUp(instructions: number, seconds: number, cpu: NodeJS.CpuUsage): Partial<BenchResult> {
  return {
    afterWarmUp: {
      instructions,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      mips: instructions / seconds / 1e6,
    },
  };
}

/** The CLI's entry, for timing `hv boot` in a process of its own. */
const CLI_MAIN = fileURLToPath(new URL("./main.js", import.meta.url));

/**
 * Boots the Linux guest as a user does, `hv boot` in a fresh process (`--no-jit` for the
 * interpreter alone), and times it from the spawn to the first prompt, as QEMU's boot is timed:
 * node's start, loading hv-core, creating the machine and booting are all in it. Instructions are
 * those the guest's /init reports at its start (the boot to the prompt runs ~2% more).
 */
export async function benchLinuxBoot(jit: boolean): Promise<BenchResult> {
  const timing = await timeBootToPrompt(process.execPath, (disk) => [
    CLI_MAIN,
    "boot",
    ...["--kernel", join(LINUX_DIR, "Image"), "--initrd", join(LINUX_DIR, "initramfs.cpio")],
    ...["--disk", disk, ...(jit ? [] : ["--no-jit"])],
  ]);
  if (!timing) throw new SkiffError("BENCH_BOOT_FAILED", "hv boot did not reach the prompt");
  const instructions = timing.instructionsToInit ?? 0;
  return {
    name: "linux-boot",
    instructions,
    seconds: timing.seconds,
    mips: instructions / timing.seconds / 1e6,
    engine: jit ? "jit" : "interpreter",
    timed: "spawn of a fresh process to the first prompt, instructions to /init (QEMU: spawn to prompt)",
  };
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean" },
      qemu: { type: "boolean" },
      boot: { type: "boolean" },
      "no-jit": { type: "boolean" },
    },
    allowPositionals: true,
  });
  const elfs = positionals.length
    ? positionals
    : existsSync(BENCH_DIR)
      ? readdirSync(BENCH_DIR)
          .filter((f) => f.endsWith(".elf"))
          .sort()
          .map((f) => join(BENCH_DIR, f))
      : [];
  if (elfs.length === 0) {
    process.stderr.write(`hv bench: no benchmark guests in ${BENCH_DIR}\n`);
    return 1;
  }
  // Each row runs on the interpreter (the reference) and, unless --no-jit, with translation.
  const engines = values["no-jit"] ? [false] : [false, true];
  const out = (r: BenchResult, base: BenchResult | undefined, extra: Record<string, number> = {}) => {
    const speedup = base && r !== base ? base.seconds / r.seconds : undefined;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...r, ...(speedup ? { speedup } : {}), ...extra })}\n`);
      return;
    }
    let line = `${r.name.padEnd(10)} ${r.engine.padEnd(11)} ${r.mips.toFixed(1).padStart(7)} MIPS  (${r.instructions} instructions in ${r.seconds.toFixed(2)} s)`;
    if (speedup !== undefined) line += `  ${speedup.toFixed(2)}x the interpreter`;
    if (r.cacheBlocks !== undefined)
      line += `, ${r.translated} regions translated, cache ${r.cacheBlocks} regions / ${(r.cacheSourceBytes! / 1024).toFixed(0)} KiB source, ${((100 * r.translatedInstructions!) / r.instructions).toFixed(0)} % run translated`;
    if (extra.qemuSeconds !== undefined) {
      const qemu =
        extra.qemuMips === undefined
          ? `${extra.qemuSeconds.toFixed(2)} s`
          : `${extra.qemuMips.toFixed(1)} MIPS`;
      line += `  qemu ${qemu}, hv-core/qemu speed ${extra.ratio?.toFixed(2)}`;
      if (extra.cpuRatio !== undefined) line += ` (by CPU seconds ${extra.cpuRatio.toFixed(2)})`;
      if (extra.ratioAfterWarmUp !== undefined)
        line += `; after the warm-up ${r.afterWarmUp!.mips.toFixed(1)} MIPS, speed ${extra.ratioAfterWarmUp.toFixed(2)} (CPU ${extra.cpuRatioAfterWarmUp!.toFixed(2)})`;
    }
    process.stdout.write(`${line}\n`);
  };
  for (const elf of elfs) {
    const qemu = values.qemu ? benchQemu(elf) : undefined;
    let base: BenchResult | undefined;
    for (const jit of engines) {
      let r: BenchResult;
      try {
        r = benchGuest(elf, jit);
      } catch (e) {
        process.stderr.write(`hv bench: ${basename(elf)}: ${(e as Error).message}\n`);
        return 1;
      }
      base ??= r;
      const vsQemu: Record<string, number> =
        qemu === undefined
          ? {}
          : {
              qemuSeconds: qemu.seconds,
              qemuCpuSeconds: qemu.cpuSeconds,
              qemuMips: r.instructions / qemu.seconds / 1e6,
              ratio: qemu.seconds / r.seconds,
              ...(r.cpuSeconds && Number.isFinite(qemu.cpuSeconds)
                ? { cpuRatio: qemu.cpuSeconds / r.cpuSeconds }
                : {}),
              // QEMU at its whole run's rate against the part after hv-core's warm-up.
              ...(r.afterWarmUp
                ? {
                    ratioAfterWarmUp: r.afterWarmUp.mips / (r.instructions / qemu.seconds / 1e6),
                    cpuRatioAfterWarmUp:
                      (qemu.cpuSeconds * r.afterWarmUp.instructions) /
                      r.instructions /
                      r.afterWarmUp.cpuSeconds,
                  }
                : {}),
            };
      out(r, base, vsQemu);
    }
  }
  if (values.boot) {
    // QEMU's boot has no exact instruction count: the row compares wall time to the prompt only.
    const qemuSeconds = values.qemu ? await benchQemuLinuxBoot() : undefined;
    if (values.qemu && qemuSeconds === undefined)
      process.stderr.write(
        "hv bench: QEMU did not boot Linux to its prompt (qemu-system-riscv32 missing?)\n",
      );
    let base: BenchResult | undefined;
    for (const jit of engines) {
      let r: BenchResult;
      try {
        r = await benchLinuxBoot(jit);
      } catch (e) {
        process.stderr.write(`hv bench: linux boot: ${(e as Error).message}\n`);
        return 1;
      }
      base ??= r;
      out(r, base, qemuSeconds === undefined ? {} : { qemuSeconds, ratio: qemuSeconds / r.seconds });
    }
  }
  return 0;
}
