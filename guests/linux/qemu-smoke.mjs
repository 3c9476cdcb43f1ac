#!/usr/bin/env node
// Boots the committed guest (Image, initramfs.cpio, rootfs.ext2, shim.elf) in QEMU, the reference
// machine, drives its serial console like a person would, and checks the answers: the shell
// prompt, echo, ls /data, ps, the dirty/counter workloads, a file on /data surviving a reboot, and
// poweroff ending QEMU with status 0. A second boot with -icount counts the guest instructions up
// to the shell. Prints the measurements; exits non-zero on the first failed check.
//
// Usage: node guests/linux/qemu-smoke.mjs [--json] [--verbose]
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BOOT_TIMEOUT_MS, Guest, PROMPT } from "./serial-console.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const verbose = process.argv.includes("--verbose");
const json = process.argv.includes("--json");
const qemuBoot = join(here, "qemu-boot.sh");

function check(condition, what, guest) {
  if (!condition) throw new Error(`${what}\n${guest.tail()}`);
  if (!json) console.log(`ok   ${what}`);
}

const lines = (text) => text.split(/\r?\n/).filter((l) => l.length > 0);

async function functionalRun(disk) {
  const guest = new Guest(qemuBoot, ["--disk", disk], { verbose });
  try {
    await guest.expect(PROMPT, "first prompt", BOOT_TIMEOUT_MS);
    const promptMs = performance.now() - guest.startedAt;
    const initAt = guest.output.match(/init: started at ([\d.]+) s/);
    check(initAt !== null, "init reports its start time", guest);
    check(/init: \/dev\/vda mounted on \/data/.test(guest.output), "init mounts /dev/vda on /data", guest);

    check(lines(await guest.run("echo hi")).join("|") === "hi", "echo hi prints hi", guest);
    const ls = lines(await guest.run("ls /data"));
    check(
      ls.includes("README") && ls.includes("lost+found/"),
      "ls /data lists README and lost+found/",
      guest,
    );
    const ps = await guest.run("ps");
    check(/^\s+1\s+0 S \/init$/m.test(ps) && /\ssh$/m.test(ps), "ps shows /init (pid 1) and sh", guest);
    check(/^Mem:\s+\d+\s+\d+\s+\d+\s+\d+$/m.test(await guest.run("free")), "free prints Mem:", guest);
    check(/^up [\d.]+ s, load /.test(await guest.run("uptime")), "uptime prints up ... s, load", guest);
    check(
      /^\/dev\/vda \/data ext2 rw/m.test(await guest.run("mount")),
      "mount lists /dev/vda on /data",
      guest,
    );

    // Workloads: a background writer and a bounded counter checking the buffer behind it.
    const before = guest.cursor;
    const dirty = await guest.run("dirty 2 4 &");
    check(/^\[\d+\]$/m.test(dirty), "dirty 2 4 & starts in the background", guest);
    // the writer's banner may come before or after the prompt: look from the command on
    guest.cursor = before;
    await guest.expect("dirty: 2 MiB at 4 MiB/s", "dirty banner");
    const counter = lines(await guest.run("counter 5")).filter((l) => l.startsWith("counter "));
    const parsed = counter.map((l) => l.match(/^counter (\d+) ([0-9a-f]{8}) (\d+):(\d+) (ok|bad=\d+)$/));
    check(
      parsed.length === 5 && parsed.every((m) => m !== null),
      "counter 5 prints 5 well-formed lines",
      guest,
    );
    check(
      parsed.every((m, i) => Number(m[1]) === i + 1 && m[5] === "ok"),
      "counter lines count 1..5 and report ok",
      guest,
    );
    const progress = parsed.map((m) => Number(m[3]) * 512 + Number(m[4]));
    check(progress[4] > progress[0], "the buffer is being rewritten while counter runs", guest);
    await guest.run("dirty stop");
    await guest.expect(/dirty: stopped after \d+ pages/, "dirty stops");
    const still = lines(await guest.run("counter 2")).filter((l) => l.startsWith("counter "));
    check(
      still.length === 2 && still[0].split(" ").slice(2).join(" ") === still[1].split(" ").slice(2).join(" "),
      "with the writer stopped, counter's checksum is stable",
      guest,
    );

    // In the foreground both workloads run until a key (the console is in character mode meanwhile).
    await guest.type("counter");
    await guest.expect(/counter 3 [0-9a-f]{8} \d+:\d+ ok\r?\n/, "foreground counter runs");
    guest.child.stdin.write("q");
    await guest.expect(PROMPT, "a key stops the foreground counter");
    await guest.type("dirty 1 1");
    await guest.expect("dirty: 1 MiB at 1 MiB/s", "foreground dirty starts");
    await new Promise((r) => setTimeout(r, 500)); // let it write some pages (256 per second)
    guest.child.stdin.write("x");
    await guest.expect(/dirty: stopped after \d+ pages/, "a key stops the foreground dirty");
    await guest.expect(PROMPT, "prompt after foreground dirty");
    check(
      lines(await guest.run("echo back")).join("|") === "back",
      "a key stops foreground workloads; the console echoes again",
      guest,
    );

    // The checker must notice a page that missed its last write (what a lost migration copy is).
    await guest.run("dirty lose 0");
    check(
      /^counter 1 [0-9a-f]{8} \d+:\d+ bad=1$/m.test(await guest.run("counter 1")),
      "counter reports bad=1 after dirty lose 0 reverts one page (writer stopped)",
      guest,
    );

    // Persistence: a file written to /data is there after a reboot.
    const token = `persist-${process.pid}-${Date.now()}`;
    await guest.run(`write /data/smoke.txt ${token}`);
    await guest.type("reboot");
    await guest.expect("sbi-shim: hart", "machine reset after reboot", BOOT_TIMEOUT_MS);
    await guest.expect(PROMPT, "prompt after reboot", BOOT_TIMEOUT_MS);
    check(
      lines(await guest.run("cat /data/smoke.txt")).join("|") === token,
      "/data/smoke.txt survives reboot",
      guest,
    );

    await guest.type("poweroff");
    const code = await guest.waitExit("poweroff");
    check(code === 0, "poweroff ends QEMU with status 0", guest);
    return { promptMs, initGuestSeconds: Number(initAt[1]) };
  } finally {
    guest.kill();
  }
}

async function countingRun(disk) {
  const guest = new Guest(qemuBoot, ["--disk", disk, "--icount", "--run", "instret;poweroff"], { verbose });
  try {
    const atInit = await guest.expect(
      /init: started at [\d.]+ s, instret (\d+)\r?\n/,
      "instret at /init",
      BOOT_TIMEOUT_MS,
    );
    const m = await guest.expect(/instret (\d+)\r?\n/, "instret at the shell", BOOT_TIMEOUT_MS);
    const code = await guest.waitExit("poweroff from skiff.run");
    check(code === 0, "skiff.run=instret;poweroff runs at boot and powers off (status 0)", guest);
    return { instructionsToInit: Number(atInit[1]), instructionsToShell: Number(m[1]) };
  } finally {
    guest.kill();
  }
}

const work = mkdtempSync(join(tmpdir(), "skiff-qemu-smoke-"));
try {
  const disk = join(work, "disk.ext2");
  copyFileSync(join(here, "rootfs.ext2"), disk);
  const functional = await functionalRun(disk);
  const counting = await countingRun(disk);
  const result = { ...functional, ...counting };
  if (json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(`wall time to first prompt (QEMU TCG, incl. QEMU start): ${Math.round(result.promptMs)} ms`);
    console.log(`guest time when /init started: ${result.initGuestSeconds} s`);
    console.log(`guest instructions from reset to /init (QEMU -icount): ${result.instructionsToInit}`);
    console.log(`guest instructions from reset to the shell (QEMU -icount): ${result.instructionsToShell}`);
  }
} catch (err) {
  console.error(`FAIL ${err.message}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
