import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = new URL("../../../../", import.meta.url).pathname;
const cli = join(root, "packages/hv-core/dist/cli/main.js");
const linux = join(root, "guests/linux");
const tmp = mkdtempSync(join(tmpdir(), "hv-boot-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Drives `hv boot` through its serial console like a person at a terminal would. */
function bootLinux(extra: string[] = []) {
  const disk = join(tmp, `disk-${Math.random().toString(36).slice(2)}.ext2`);
  copyFileSync(join(linux, "rootfs.ext2"), disk);
  const child = spawn(
    process.execPath,
    [
      cli,
      "boot",
      "--kernel",
      join(linux, "Image"),
      "--initrd",
      join(linux, "initramfs.cpio"),
      "--disk",
      disk,
      ...extra,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString("latin1");
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    get output() {
      return output;
    },
    exited,
    async waitFor(text: string, from: number, timeoutMs = 60_000): Promise<string> {
      const end = Date.now() + timeoutMs;
      while (!output.includes(text, from)) {
        if (Date.now() > end || child.exitCode !== null)
          throw new Error(`timed out waiting for ${JSON.stringify(text)}; console:\n${output.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return output.slice(from, output.indexOf(text, from) + text.length);
    },
    /** Types a command and returns what the console printed up to the next prompt (no CRs). */
    async run(command: string): Promise<string> {
      const from = output.length;
      child.stdin.write(`${command}\n`);
      return (await this.waitFor("skiff# ", from + command.length)).replaceAll("\r", "");
    },
    kill: () => child.kill("SIGKILL"),
  };
}

describe("hv boot (Linux guest)", () => {
  it("boots to the prompt, runs commands, keeps /data across a reboot and powers off with status 0", async () => {
    const vm = bootLinux(["--append", "skiff.test=1", "--net-mac", "52:54:00:12:34:56"]);
    try {
      await vm.waitFor("skiff# ", 0);
      expect(vm.output).toContain("Linux version 6.1");
      expect(await vm.run("echo hello from the guest")).toContain("hello from the guest");
      expect(await vm.run("cat /proc/cmdline")).toContain("skiff.test=1");
      expect(await vm.run("ls /data")).toContain("lost+found");
      expect(await vm.run("cat /sys/class/net/eth0/address")).toContain("52:54:00:12:34:56");
      expect(await vm.run("ls /proc")).toContain("uptime");
      const ps = await vm.run("ps");
      expect(ps).toMatch(/^\s+PID\s+PPID S COMMAND$/m);
      expect(ps).toMatch(/^\s+1\s+0 S \/init$/m);
      expect(ps).toMatch(/\ssh$/m);
      expect(await vm.run("uptime")).toMatch(/^up [\d.]+ s, load [\d.]+ [\d.]+ [\d.]+$/m);
      expect(await vm.run("free")).toMatch(/^Mem:\s+\d+\s+\d+\s+\d+\s+\d+$/m);
      expect(await vm.run("mount")).toMatch(/^\/dev\/vda \/data ext2 rw/m);
      // A file on /data survives a guest reboot: SRST cold reboot restarts the machine on the
      // same disk file, with the console carrying on.
      await vm.run("write /data/reboot.txt written before the reboot");
      const beforeReboot = vm.output.length;
      vm.run("reboot").catch(() => {});
      await vm.waitFor("Linux version 6.1", beforeReboot);
      await vm.waitFor("skiff# ", beforeReboot);
      expect(vm.output.slice(beforeReboot)).toContain("/dev/vda mounted on /data");
      expect(await vm.run("cat /data/reboot.txt")).toContain("written before the reboot");
      expect(await vm.run("cat /proc/cmdline")).toContain("skiff.test=1");
      vm.run("poweroff").catch(() => {});
      expect(await vm.exited).toBe(0);
    } finally {
      vm.kill();
    }
  }, 180_000);

  it("refuses a file that is not a Linux Image with a clear error", async () => {
    const child = spawn(process.execPath, [cli, "boot", "--kernel", join(linux, "initramfs.cpio")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(1);
    expect(err).toMatch(/not a RISC-V Linux Image/);
  });

  it("refuses a malformed --net-mac with a clear error", async () => {
    const args = [cli, "boot", "--kernel", join(linux, "Image"), "--net-mac", "52:54:00:12:34"];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(1);
    expect(err).toMatch(/MAC address "52:54:00:12:34" is not six hex octets/);
  });
});
