import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSnapshot } from "../snapshot/container.js";
import { Machine } from "./machine.js";

const linux = new URL("../../../../guests/linux/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "hv-linux-snap-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let disks = 0;
function diskCopy(from = join(linux, "rootfs.ext2")): string {
  const path = join(tmp, `disk${disks++}.ext2`);
  copyFileSync(from, path);
  return path;
}

/** Everything but the machine config (which names each copy's own disk file) must be identical. */
function expectSameState(a: Machine, b: Machine): void {
  const sa = decodeSnapshot(a.snapshot());
  const sb = decodeSnapshot(b.snapshot());
  const { machine: _ma, ...ca } = sa.components;
  const { machine: _mb, ...cb } = sb.components;
  expect(cb).toEqual(ca);
  expect(Buffer.compare(b.ram.u8, a.ram.u8)).toBe(0);
}

describe("snapshots of a running Linux guest", () => {
  it("restore into a fresh machine and continue bit-identically, disk included", () => {
    const reference = Machine.create({
      mode: "hypervisor",
      memoryBytes: 64 << 20,
      image: readFileSync(join(linux, "Image")),
      initrd: readFileSync(join(linux, "initramfs.cpio")),
      disks: [{ path: diskCopy() }],
      bootargs: "console=ttyS0 skiff.run=write_/data/snap_hello;cat_/data/snap",
      clock: "instructions",
    });
    let console = "";
    reference.onConsoleOutput = (b) => {
      console += Buffer.from(b).toString("latin1");
    };
    const disk = reference.spec.disks[0]!.path;
    try {
      // Snapshot through boot, the disk write and the shell: virtio, UART, PLIC and SBI all busy.
      for (const steps of [3_000_000, 2_500_000, 4_000_000, 1_500_000, 6_000_000]) {
        reference.run(steps);
        const copy = Machine.restore(reference.snapshot(), { disks: [{ path: diskCopy(disk) }] });
        try {
          expectSameState(reference, copy);
          reference.run(1_000_000);
          copy.run(1_000_000);
          expectSameState(reference, copy);
          expect(Buffer.compare(readFileSync(copy.spec.disks[0]!.path), readFileSync(disk))).toBe(0);
        } finally {
          copy.close();
        }
      }
      for (let i = 0; i < 100 && !console.includes("skiff# "); i++) reference.run(1_000_000);
      expect(console).toContain("skiff# ");
      expect(console).toContain("hello");
    } finally {
      reference.close();
    }
  }, 120_000);
});
