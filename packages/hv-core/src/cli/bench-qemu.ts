import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The same RV32IMA hart QEMU's TCG is compared on (no C, no FPU, nothing extra). */
const QEMU_CPU =
  "rv32,c=off,f=off,d=off,h=off,sstc=off,zba=off,zbb=off,zbc=off,zbs=off,svinval=off,svnapot=off,svpbmt=off";
const GUESTS = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../guests");
export const LINUX_DIR = join(GUESTS, "linux");
export const PROMPT = "skiff# ";
const BOOT_TIMEOUT_MS = 120_000;

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

/**
 * Wall seconds from spawning QEMU to the Linux guest's first prompt on its serial output, booted
 * as guests/linux/qemu-boot.sh does (`-M virt`, the project's SBI shim as firmware, 128 MiB, the
 * disk on a temp copy of rootfs.ext2); undefined when QEMU is missing or never prompts. QEMU is
 * killed at the prompt.
 */
export async function benchQemuLinuxBoot(): Promise<number | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-qemu-"));
  const disk = join(dir, "rootfs.ext2");
  copyFileSync(join(LINUX_DIR, "rootfs.ext2"), disk);
  const start = process.hrtime.bigint();
  const qemu = spawn(
    "qemu-system-riscv32",
    [
      ...["-M", "virt", "-m", "128M", "-smp", "1", "-cpu", QEMU_CPU, "-nographic"],
      ...["-bios", join(GUESTS, "sbi-shim/shim.elf"), "-kernel", join(LINUX_DIR, "Image")],
      ...["-initrd", join(LINUX_DIR, "initramfs.cpio"), "-append", "console=ttyS0 earlycon=sbi"],
      ...["-drive", `file=${disk},if=none,format=raw,id=d0`, "-device", "virtio-blk-device,drive=d0"],
    ],
    { stdio: ["pipe", "pipe", "ignore"] },
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<number | undefined>((done) => {
      let tail = "";
      timer = setTimeout(() => done(undefined), BOOT_TIMEOUT_MS);
      qemu.on("error", () => done(undefined));
      qemu.on("exit", () => done(undefined));
      qemu.stdout.on("data", (chunk: Buffer) => {
        tail = (tail + chunk.toString("latin1")).slice(-64);
        if (tail.includes(PROMPT)) done(Number(process.hrtime.bigint() - start) / 1e9);
      });
    });
  } finally {
    clearTimeout(timer);
    qemu.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
