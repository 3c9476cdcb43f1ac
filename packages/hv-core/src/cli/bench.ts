import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseElf } from "../loader/elf.js";
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
  const image = readFileSync(path);
  const machine = Machine.create({ mode: "firmware", memoryBytes: MEMORY, image });
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
  // The guest's own minstret at its exit (exact), else the machine's count (which includes the
  // spin after the tohost write until the run slice ended).
  const result = parseElf(image).symbols.get("bench_result");
  const instructions =
    result !== undefined && machine.ram.contains(result, 8)
      ? machine.ram.readU32(result + 4) * 2 ** 32 + machine.ram.readU32(result)
      : machine.instret;
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

const LINUX_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../guests/linux");
const PROMPT = "skiff# ";

/**
 * Boots the Linux guest (hypervisor mode, host clock, virtio disk on a temp copy) to its first
 * shell prompt: wall seconds and guest instructions from machine creation to the prompt.
 */
export function benchLinuxBoot(): BenchResult {
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-"));
  const disk = join(dir, "rootfs.ext2");
  copyFileSync(join(LINUX_DIR, "rootfs.ext2"), disk);
  const start = process.hrtime.bigint();
  const machine = Machine.create({
    mode: "hypervisor",
    memoryBytes: 128 << 20,
    image: readFileSync(join(LINUX_DIR, "Image")),
    initrd: readFileSync(join(LINUX_DIR, "initramfs.cpio")),
    disks: [{ path: disk }],
  });
  let tail = "";
  let seen = false;
  machine.onConsoleOutput = (bytes) => {
    tail = (tail + Buffer.from(bytes).toString("latin1")).slice(-64);
    if (tail.includes(PROMPT)) seen = true;
  };
  try {
    while (!seen) {
      const exit = machine.run(1_000_000);
      if (exit.kind === "idle")
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(exit.wakeInMs, 10));
      else if (exit.kind !== "budget") throw new Error(`linux boot stopped: ${exit.kind}`);
    }
  } finally {
    machine.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const instructions = machine.instret;
  return { name: "linux-boot", instructions, seconds, mips: instructions / seconds / 1e6 };
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: "boolean" }, qemu: { type: "boolean" }, boot: { type: "boolean" } },
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
    let r: BenchResult;
    try {
      r = benchGuest(elf);
    } catch (e) {
      process.stderr.write(`hv bench: ${basename(elf)}: ${(e as Error).message}\n`);
      return 1;
    }
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
  if (values.boot) {
    const r = benchLinuxBoot();
    if (values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else
      process.stdout.write(
        `${r.name.padEnd(8)} ${r.seconds.toFixed(2)} s to the shell prompt (${r.instructions} instructions, ${r.mips.toFixed(1)} MIPS)\n`,
      );
  }
  return 0;
}
