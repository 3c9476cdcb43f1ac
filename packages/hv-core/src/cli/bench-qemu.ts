import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { GUESTS, LINUX_DIR, timeBootToPrompt } from "./boot-timing.js";

/** The same RV32IMA hart QEMU's TCG is compared on (no C, no FPU, nothing extra). */
const QEMU_CPU =
  "rv32,c=off,f=off,d=off,h=off,sstc=off,zba=off,zbb=off,zbc=off,zbs=off,svinval=off,svnapot=off,svpbmt=off";
/** The kernel command line of both machines' boots (the same as `hv boot`'s default). */
const BOOTARGS = "console=ttyS0 earlycon=sbi";

/** QEMU's time for one guest: wall seconds and the CPU seconds (user + system) it used. */
export interface QemuTiming {
  seconds: number;
  cpuSeconds: number;
}

/**
 * The same ELF on qemu-system-riscv32 (TCG, spike machine with HTIF), or undefined. QEMU runs
 * under bash, whose `times` reports the CPU its children used: on a shared machine the CPU
 * seconds of both sides compare where their wall times do not.
 */
export function benchQemu(path: string): QemuTiming | undefined {
  const start = process.hrtime.bigint();
  const r = spawnSync(
    "bash",
    [
      "-c",
      'qemu-system-riscv32 "$@" >/dev/null 2>&1 </dev/null; s=$?; times; exit $s',
      "qemu",
      ...["-M", "spike", "-bios", "none", "-nographic", "-cpu", QEMU_CPU, "-kernel", path],
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 300_000 },
  );
  if (r.error || r.status !== 0) return undefined;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  // `times` prints the shell's user and system time, then its children's: "0m1.234s 0m0.056s".
  const children = r.stdout.trim().split("\n").at(-1) ?? "";
  const parts = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { seconds, cpuSeconds: parts.length === 2 ? parts[0]! + parts[1]! : Number.NaN };
}

/**
 * Wall seconds from spawning QEMU to the Linux guest's first prompt, booted as
 * guests/linux/qemu-boot.sh does (`-M virt`, the project's SBI shim as firmware, 128 MiB, the disk
 * on a temp copy of rootfs.ext2); undefined when QEMU is missing or never prompts.
 */
export async function benchQemuLinuxBoot(): Promise<number | undefined> {
  const timing = await timeBootToPrompt("qemu-system-riscv32", (disk) => [
    ...["-M", "virt", "-m", "128M", "-smp", "1", "-cpu", QEMU_CPU, "-nographic"],
    ...["-bios", join(GUESTS, "sbi-shim/shim.elf"), "-kernel", join(LINUX_DIR, "Image")],
    ...["-initrd", join(LINUX_DIR, "initramfs.cpio"), "-append", BOOTARGS],
    ...["-drive", `file=${disk},if=none,format=raw,id=d0`, "-device", "virtio-blk-device,drive=d0"],
  ]);
  return timing?.seconds;
}
