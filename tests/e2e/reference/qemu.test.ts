/**
 * The committed guest artifacts, checked against their manifest and on QEMU, the reference
 * machine, independently of hv-core: the ISA tests pass there with the committed signatures, and
 * the Linux image boots to its shell and answers its commands (guests/linux/qemu-smoke.mjs).
 * `npm test` installs Debian's qemu-system-misc; without it these skip locally and fail under CI.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { builtForTests } from "@skiff/devkit";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..", "..");
const guests = join(root, "guests");

function onPath(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return `${name} (not on PATH: apt-get install qemu-system-misc)`;
}
const qemu = builtForTests(root, [onPath("qemu-system-riscv32")]);

describe("committed guest artifacts", () => {
  it("match guests/linux/artifacts.sha256", () => {
    const manifest = readFileSync(join(guests, "linux", "artifacts.sha256"), "utf8")
      .trim()
      .split("\n");
    expect(manifest.length).toBeGreaterThanOrEqual(4);
    for (const line of manifest) {
      const [sum, file] = line.split(/\s+/) as [string, string];
      const actual = createHash("sha256")
        .update(readFileSync(join(guests, file)))
        .digest("hex");
      expect(actual, file).toBe(sum);
    }
  });
});

describe.skipIf(!qemu)("on QEMU, the reference machine", () => {
  it("passes every ISA test, with the committed reference signatures", () => {
    const elves = readdirSync(join(guests, "isa-tests", "build")).filter((f) => f.endsWith(".elf"));
    const r = spawnSync("bash", [join(guests, "isa-tests", "check-qemu.sh")], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`${elves.length} passed, 0 failed`);
    expect(r.stdout).not.toMatch(/^FAIL /m);
  }, 120_000);

  it("boots the Linux guest to its shell and runs its commands (qemu-smoke)", () => {
    const r = spawnSync(process.execPath, [join(guests, "linux", "qemu-smoke.mjs")], {
      encoding: "utf8",
      timeout: 170_000,
    });
    expect(r.status, r.stdout.slice(-3000) + r.stderr.slice(-2000)).toBe(0);
    for (const check of [
      "init mounts /dev/vda on /data",
      "ps shows /init (pid 1) and sh",
      "counter lines count 1..5 and report ok",
      "/data/smoke.txt survives reboot",
      "poweroff ends QEMU with status 0",
    ]) {
      expect(r.stdout).toContain(`ok   ${check}`);
    }
  }, 180_000);
});
