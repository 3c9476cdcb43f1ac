import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Machine } from "../machine/machine.js";

/** Where the benchmark guests live (committed ELFs; guests/bench/build.sh rebuilds them). */
const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../guests/bench/build");
const MEMORY = 64 << 20;
/** The same RV32IMA machine QEMU's TCG is compared on (no C, no FPU, nothing extra). */
const QEMU_CPU =
  "rv32,c=off,f=off,d=off,h=off,sstc=off,zba=off,zbb=off,zbc=off,zbs=off,svinval=off,svnapot=off,svpbmt=off";

export interface BenchResult {
  name: string;
  instructions: number;
  seconds: number;
  mips: number;
}

/** Runs one benchmark ELF to its HTIF exit with the host clock and dirty tracking on. */
export function benchGuest(path: string): BenchResult {
  const machine = Machine.create({ mode: "firmware", memoryBytes: MEMORY, image: readFileSync(path) });
  const start = process.hrtime.bigint();
  for (;;) {
    const exit = machine.run(50_000_000);
    if (exit.kind === "htif") {
      if (exit.code !== 0) throw new Error(`${basename(path)} failed (code ${exit.code})`);
      break;
    }
    if (exit.kind !== "budget") throw new Error(`${basename(path)} stopped: ${exit.kind}`);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const instructions = machine.instret;
  return { name: basename(path, ".elf"), instructions, seconds, mips: instructions / seconds / 1e6 };
}

/** Wall time of the same ELF on qemu-system-riscv32 (TCG, spike machine with HTIF), or undefined. */
export function benchQemu(path: string): number | undefined {
  const start = process.hrtime.bigint();
  const r = spawnSync(
    "qemu-system-riscv32",
    ["-M", "spike", "-bios", "none", "-nographic", "-cpu", QEMU_CPU, "-kernel", path],
    { stdio: "ignore", timeout: 300_000 },
  );
  if (r.error || r.status !== 0) return undefined;
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: "boolean" }, qemu: { type: "boolean" } },
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
  for (const elf of elfs) {
    const r = benchGuest(elf);
    const qemuSeconds = values.qemu ? benchQemu(elf) : undefined;
    const qemu =
      qemuSeconds === undefined
        ? {}
        : { qemuSeconds, qemuMips: r.instructions / qemuSeconds / 1e6, ratio: qemuSeconds / r.seconds };
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...r, ...qemu })}\n`);
    } else {
      let line = `${r.name.padEnd(8)} ${r.mips.toFixed(1).padStart(7)} MIPS  (${r.instructions} instructions in ${r.seconds.toFixed(2)} s)`;
      if (qemuSeconds !== undefined)
        line += `  qemu ${qemu.qemuMips?.toFixed(1)} MIPS, hv-core/qemu speed ${qemu.ratio?.toFixed(2)}`;
      process.stdout.write(`${line}\n`);
    }
  }
  return 0;
}
