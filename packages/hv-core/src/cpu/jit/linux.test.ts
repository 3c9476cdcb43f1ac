import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Machine } from "../../machine/machine.js";
import { decodeSnapshot } from "../../snapshot/container.js";

const TEST_JIT = { hotAfter: 256, startAfter: 0 };

const linux = new URL("../../../../../guests/linux/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "hv-jit-linux-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function boot(jit: boolean): { machine: Machine; console: () => string } {
  const disk = join(tmp, `${jit ? "jit" : "interp"}.ext2`);
  copyFileSync(join(linux, "rootfs.ext2"), disk);
  const machine = Machine.create({
    mode: "hypervisor",
    memoryBytes: 64 << 20,
    image: readFileSync(join(linux, "Image")),
    initrd: readFileSync(join(linux, "initramfs.cpio")),
    disks: [{ path: disk }],
    bootargs: "console=ttyS0 skiff.run=write_/data/jit_hello;cat_/data/jit",
    clock: "instructions",
    // These programs are sized for translation after 256 runs (a machine's default waits longer).
    jit: jit && TEST_JIT,
  });
  let out = "";
  machine.onConsoleOutput = (b) => {
    out += Buffer.from(b).toString("latin1");
  };
  return { machine, console: () => out };
}

describe("block translation on the Linux guest", () => {
  it("boots to the prompt and writes its disk exactly as the interpreter does, state compared every slice", () => {
    const ref = boot(false);
    const fast = boot(true);
    try {
      for (let slice = 0; slice < 30 && !ref.console().includes("skiff# "); slice++) {
        ref.machine.run(2_000_000);
        fast.machine.run(2_000_000);
        const a = decodeSnapshot(ref.machine.snapshot()).components;
        const b = decodeSnapshot(fast.machine.snapshot()).components;
        // The machine section names each copy's own disk file: everything else must match.
        const { machine: _a, ...restA } = a;
        const { machine: _b, ...restB } = b;
        expect(restB, `slice ${slice}`).toEqual(restA);
        expect(Buffer.compare(fast.machine.ram.u8, ref.machine.ram.u8), `slice ${slice}: RAM`).toBe(0);
      }
      expect(ref.console()).toContain("skiff# ");
      expect(fast.console()).toBe(ref.console());
      expect(fast.machine.hart.jit!.retiredInBlocks).toBeGreaterThan(fast.machine.hart.retired / 4);
    } finally {
      ref.machine.close();
      fast.machine.close();
    }
    // Slow: the kernel's code runs few times per block, so most of it runs translated but not yet
    // optimized by V8 (see README).
  }, 600_000);
});
