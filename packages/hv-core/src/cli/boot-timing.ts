import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const GUESTS = resolve(dirname(fileURLToPath(import.meta.url)), "../../../../guests");
export const LINUX_DIR = join(GUESTS, "linux");
export const PROMPT = "skiff# ";
/** The guest's /init reports the instructions retired when it starts (exact on hv-core). */
const INIT_LINE = /init: started at [\d.]+ s, instret (\d+)/;
const BOOT_TIMEOUT_MS = 120_000;

export interface BootTiming {
  /** Wall seconds from the spawn to the first prompt on the serial console. */
  seconds: number;
  /** Instructions retired when /init started, as the guest reports them. */
  instructionsToInit: number | undefined;
}

/**
 * Spawns a machine that boots the Linux guest (its serial console on stdout) with a fresh copy
 * of rootfs.ext2 as its disk, and times it to the shell's first prompt; the process is killed
 * there. Undefined when it cannot start or never prompts. `args` gets the disk copy's path.
 */
export async function timeBootToPrompt(
  command: string,
  args: (disk: string) => string[],
): Promise<BootTiming | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "hv-boot-timing-"));
  const disk = join(dir, "rootfs.ext2");
  copyFileSync(join(LINUX_DIR, "rootfs.ext2"), disk);
  const start = process.hrtime.bigint();
  const child = spawn(command, args(disk), { stdio: ["pipe", "pipe", "ignore"] });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<BootTiming | undefined>((done) => {
      let out = "";
      timer = setTimeout(() => done(undefined), BOOT_TIMEOUT_MS);
      child.on("error", () => done(undefined));
      child.on("exit", () => done(undefined));
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("latin1");
        if (!out.includes(PROMPT)) return;
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const init = INIT_LINE.exec(out);
        done({ seconds, instructionsToInit: init ? Number(init[1]) : undefined });
      });
    });
  } finally {
    clearTimeout(timer);
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
