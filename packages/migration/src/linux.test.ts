/**
 * Live migration of the real Linux guest between two hv-core Machines in this process: the guest
 * runs `dirty` (rewriting pages) and `counter` (which checks every page it reads) while its RAM and
 * disk move, hop after hop. At each commit the destination's RAM and disk must equal the paused
 * source's byte for byte, and after each hop the guest's counter must go on without a gap or a bad
 * page.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Machine } from "@skiff/hv-core";
import { afterAll, describe, expect, it } from "vitest";
import { MigrationReceiver, receiveMigration, type TargetVm } from "./receiver.js";
import type { MigrationReport } from "./report.js";
import { MigrationSender } from "./sender.js";
import { memoryLink } from "./stream-ends.js";
import { MachineRunner } from "./test-support/machine-runner.js";

const REPO = join(import.meta.dirname, "..", "..", "..");
const LINUX = {
  kernel: join(REPO, "guests", "linux", "Image"),
  initrd: join(REPO, "guests", "linux", "initramfs.cpio"),
  disk: join(REPO, "guests", "linux", "rootfs.ext2"),
};
const MEM = 64 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "skiff-mig-linux-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COUNTER = /counter (\d+) ([0-9a-f]{8}) (\d+):(\d+) (ok|bad=\d+)/g;
function counterLines(text: string) {
  return [...text.matchAll(COUNTER)].map((m) => ({ n: Number(m[1]), sum: m[2]!, status: m[5]! }));
}

/** One hop: `from` streams to a fresh machine; returns it and the sender's report. */
async function hop(from: MachineRunner, id: number): Promise<{ to: MachineRunner; report: MigrationReport }> {
  const diskPath = join(dir, `disk-${id + 1}.img`);
  const memory = { ram: new SharedArrayBuffer(MEM), dirty: new SharedArrayBuffer(MEM / 4096 / 8) };
  let to: MachineRunner | undefined;
  let diskFd = -1;
  const target: TargetVm = {
    ram: new Uint8Array(memory.ram),
    openDisk(bytes) {
      diskFd = openSync(diskPath, "w+");
      ftruncateSync(diskFd, bytes);
      return diskFd;
    },
    async commit(state) {
      // The source is paused now: the destination must hold its exact RAM and disk.
      expect(Buffer.compare(Buffer.from(memory.ram), Buffer.from(from.ram.buffer))).toBe(0);
      expect(Buffer.compare(readFileSync(diskPath), readFileSync(from.machine.spec.disks[0]!.path))).toBe(0);
      closeSync(diskFd);
      const dirtyLog = MachineRunner.dirtyLogFor(statSync(diskPath).size);
      const m = Machine.restore(state, { memory, disks: [{ path: diskPath, dirtyLog }] });
      to = new MachineRunner(m, { path: diskPath, bytes: statSync(diskPath).size, dirtyLog });
      return { resumedAtMs: to.firstRunAtMs };
    },
  };
  const link = memoryLink();
  const receiver = new MigrationReceiver(
    { migrationId: `hop${id}`, vmId: "linux", targetEpoch: id + 1, token: `t${id}`, memoryBytes: MEM },
    target,
  );
  const received = receiveMigration(receiver, link.records, link.port);
  const report = await new MigrationSender(from, link.sender, {
    migrationId: `hop${id}`,
    vmId: "linux",
    sourceEpoch: id,
    targetEpoch: id + 1,
    token: `t${id}`,
    maxDowntimeMs: 20,
  }).run();
  expect(report.error).toBeUndefined();
  expect(report.outcome).toBe("committed");
  expect((await received).committed).toBe(true);
  await from.stop();
  return { to: to!, report };
}

describe.skipIf(!existsSync(LINUX.kernel))("live migration of the Linux guest (in process)", () => {
  it("moves a guest running dirty + counter three times; the counter and its checks go on", async () => {
    const disk0 = join(dir, "disk-0.img");
    copyFileSync(LINUX.disk, disk0);
    const bytes = statSync(disk0).size;
    const dirtyLog = MachineRunner.dirtyLogFor(bytes);
    const m = Machine.create({
      mode: "hypervisor",
      memoryBytes: MEM,
      image: readFileSync(LINUX.kernel),
      initrd: readFileSync(LINUX.initrd),
      bootargs: "console=ttyS0 earlycon=sbi quiet",
      disks: [{ path: disk0, dirtyLog }],
    });
    let vm = new MachineRunner(m, { path: disk0, bytes, dirtyLog });
    await vm.waitFor("skiff# ");
    vm.type("dirty 8 20 &\n");
    await vm.waitFor("dirty: 8 MiB");
    vm.type("counter &\n");
    await vm.waitFor(/counter 5 /);
    let last = counterLines(vm.output).at(-1)!.n;
    for (let i = 0; i < 3; i++) {
      // Disk writes during the migration too.
      vm.type(`write /data/hop${i} during-hop-${i}\n`);
      const { to, report } = await hop(vm, i);
      vm = to;
      console.log(
        `hop ${i}: ${report.rounds.length} rounds, downtime ${report.downtimeMs.toFixed(1)} ms, ` +
          `${(report.bytesSent / 1048576).toFixed(1)} MiB sent for ${(report.nonZeroBytes / 1048576).toFixed(1)} MiB non-zero RAM, ` +
          `disk ${(report.diskBytesSent / 1024).toFixed(0)} KiB, total ${report.totalMs.toFixed(0)} ms`,
      );
      await vm.waitFor((t) => counterLines(t).length >= 3, 60_000);
      const lines = counterLines(vm.output);
      // No lines lost or repeated across the hop (one may have been printing during the pause).
      expect(lines[0]!.n).toBeGreaterThan(last);
      expect(lines[0]!.n).toBeLessThanOrEqual(last + 2);
      for (let k = 1; k < lines.length; k++) expect(lines[k]!.n).toBe(lines[k - 1]!.n + 1);
      for (const l of lines) expect(l.status).toBe("ok");
      last = lines.at(-1)!.n;
    }
    // The files written during the hops are on the disk that moved.
    const catAt = vm.output.length;
    vm.type("cat /data/hop0 /data/hop1 /data/hop2\n");
    await vm.waitFor((t) => [0, 1, 2].every((h) => t.includes(`during-hop-${h}`)), 30_000, catAt);
    // With the writer stopped the checksum holds still.
    vm.type("dirty stop\n");
    await vm.waitFor("dirty: stopped");
    const mark = vm.output.length;
    await vm.waitFor((t) => counterLines(t).length >= 4, 30_000, mark);
    const after = counterLines(vm.output.slice(mark));
    expect(new Set(after.slice(1).map((l) => l.sum)).size).toBe(1);
    await vm.stop();
  }, 300_000);
});
