// A disk on shared storage that both ends mount: only ownership moves, no block is sent, and the
// destination checks at commit that it sees what the source's guest wrote.
import { copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MigrationErrorCode } from "./format.js";
import { MAX_VERIFIED_BLOCKS, sampleBlocks } from "./in-place.js";
import { MigrationReceiver, receiveMigration, type TargetVm } from "./receiver.js";
import { MigrationSender, type SenderOptions } from "./sender.js";
import { memoryLink } from "./stream-ends.js";
import { SyntheticVm } from "./test-support/synthetic-vm.js";
import { wallMs } from "./wall-clock.js";

const dir = mkdtempSync(join(tmpdir(), "skiff-inplace-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MEM = 4 * 1024 * 1024;
const DISK = 1024 * 1024 + 512;

/** A destination on storage `storageId` whose disk for the VM is the file `disk` there. */
class SharedTarget implements TargetVm {
  readonly ram = new Uint8Array(new SharedArrayBuffer(MEM));
  opened: "copy" | "in-place" | undefined;
  constructor(
    private readonly storageId: string,
    private readonly disk: string,
  ) {}
  openDisk(): number {
    this.opened = "copy";
    return openSync(this.disk, "r+");
  }
  openDiskInPlace(storageId: string): number | undefined {
    if (storageId !== this.storageId) return undefined;
    this.opened = "in-place";
    return openSync(this.disk, "r");
  }
  async commit(): Promise<{ resumedAtMs: number }> {
    return { resumedAtMs: wallMs() };
  }
}

let n = 0;
function setup(sourceStorage: string, targetStorage: string, targetSees: "same" | "stale-copy") {
  const id = ++n;
  const srcDisk = join(dir, `disk-${id}.img`);
  const disk = Buffer.alloc(DISK);
  for (let b = 0; b < DISK; b += 4096 * 5) disk.write(`block ${b}`, b);
  writeFileSync(srcDisk, disk);
  // "stale-copy": the destination's "same" disk is another file (a cache that missed the writes).
  let dstDisk = srcDisk;
  if (targetSees === "stale-copy") {
    dstDisk = join(dir, `other-${id}.img`);
    copyFileSync(srcDisk, dstDisk);
  }
  const vm = new SyntheticVm(MEM, { diskPath: srcDisk, diskBytes: DISK, storageId: sourceStorage });
  const target = new SharedTarget(targetStorage, dstDisk);
  const link = memoryLink({});
  const receiver = new MigrationReceiver(
    { migrationId: `m${id}`, vmId: "vm1", targetEpoch: 3, token: "t", memoryBytes: MEM },
    target,
  );
  const received = receiveMigration(receiver, link.records, link.port);
  const options: SenderOptions = {
    migrationId: `m${id}`,
    vmId: "vm1",
    sourceEpoch: 2,
    targetEpoch: 3,
    token: "t",
    maxDowntimeMs: 5,
    // The guest writes its disk during the migration (after dirty logging began).
    onRound: (r) => {
      if (r.round === 0) for (let i = 0; i < 64; i++) vm.scribble();
    },
  };
  return { vm, target, link, received, options, srcDisk, dstDisk };
}

describe("a disk kept in place on shared storage", () => {
  it("sends no block, flushes at the pause, and the destination verifies the written blocks", async () => {
    const s = setup("storage-A", "storage-A", "same");
    const report = await new MigrationSender(s.vm, s.link.sender, s.options).run();
    s.vm.stop();
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe("committed");
    expect(report.diskInPlace).toBe(true);
    expect(report.diskBytesSent).toBe(0);
    expect(report.rounds.every((r) => r.blocks === 0)).toBe(true);
    expect(s.target.opened).toBe("in-place");
    expect(s.vm.flushes).toBe(1);
    expect((await s.received).committed).toBe(true);
    expect(Buffer.compare(Buffer.from(s.target.ram), Buffer.from(s.vm.ram))).toBe(0);
  });

  it("fails the commit when the destination does not see what the guest wrote; the source resumes", async () => {
    const s = setup("storage-A", "storage-A", "stale-copy");
    const report = await new MigrationSender(s.vm, s.link.sender, s.options).run();
    s.vm.stop();
    expect(report.outcome).toBe("rolled-back");
    expect(report.error?.code).toBe(MigrationErrorCode.VERIFY_FAILED);
    expect(report.error?.message).toMatch(/does not hold what the source wrote/);
    expect((await s.received).committed).toBe(false);
    expect(s.vm.paused).toBe(false);
  });

  it("copies the disk between different storages", async () => {
    const s = setup("storage-A", "storage-B", "stale-copy");
    const report = await new MigrationSender(s.vm, s.link.sender, s.options).run();
    s.vm.stop();
    expect(report.outcome).toBe("committed");
    expect(report.diskInPlace).toBe(false);
    expect(report.diskBytesSent).toBeGreaterThan(0);
    expect(s.target.opened).toBe("copy");
    expect(Buffer.compare(readFileSync(s.dstDisk), readFileSync(s.srcDisk))).toBe(0);
  });

  it("verifies every written block, or an even sample of many", () => {
    expect(sampleBlocks([1, 5, 9])).toEqual([1, 5, 9]);
    const many = Array.from({ length: 3 * MAX_VERIFIED_BLOCKS }, (_, i) => i);
    const s = sampleBlocks(many);
    expect(s).toHaveLength(MAX_VERIFIED_BLOCKS);
    expect(s[0]).toBe(0);
    expect(s[1]).toBe(3);
    expect(new Set(s).size).toBe(MAX_VERIFIED_BLOCKS);
  });
});
