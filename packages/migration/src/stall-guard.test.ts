import { describe, expect, it } from "vitest";
import { MigrationErrorCode } from "./format.js";
import { MigrationReceiver, receiveMigration, type TargetVm } from "./receiver.js";
import { MigrationSender } from "./sender.js";
import { guardStalls } from "./stall-guard.js";
import { memoryLink } from "./stream-ends.js";
import { SyntheticVm } from "./test-support/synthetic-vm.js";

const MEM = 4 * 1024 * 1024;
const options = { vmId: "vm1", sourceEpoch: 1, targetEpoch: 2, token: "t", stallTimeoutMs: 150 };

const target = (): TargetVm => ({
  ram: new Uint8Array(new SharedArrayBuffer(MEM)),
  openDisk: () => -1,
  commit: () => new Promise(() => {}),
});

/** Records reach the receiver only while `flowing()` holds; then the link goes silent, no error. */
function silentAfter(records: AsyncIterable<Uint8Array>, flowing: (n: number) => boolean) {
  return {
    async *[Symbol.asyncIterator]() {
      let n = 0;
      for await (const r of records) {
        if (!flowing(++n)) await new Promise(() => {});
        yield r;
      }
    },
  };
}

describe("the stall guard", () => {
  it("breaks a link on which a wait makes no progress, and only then", async () => {
    const link = memoryLink({ window: 1 });
    const guarded = guardStalls(link.sender, 100);
    try {
      // Local work between waits is not a stall.
      await guarded.send(Buffer.from("a"));
      await new Promise((r) => setTimeout(r, 300));
      // Nobody answers: the wait for a reply lasts until the guard breaks the link.
      const pending = guarded.reply();
      await expect(pending).rejects.toMatchObject({ code: MigrationErrorCode.STREAM_STALLED });
      await expect(guarded.send(Buffer.from("b"))).rejects.toMatchObject({
        code: MigrationErrorCode.STREAM_STALLED,
      });
    } finally {
      guarded.dispose();
    }
  });

  it("rolls a migration back when the destination goes silent before answering the hello", async () => {
    const vm = new SyntheticVm(MEM);
    const link = memoryLink();
    const report = await new MigrationSender(vm, link.sender, { ...options, migrationId: "m1" }).run();
    vm.stop();
    expect(report.outcome).toBe("rolled-back");
    expect(report.error?.code).toBe(MigrationErrorCode.STREAM_STALLED);
    expect(vm.paused).toBe(false);
  });

  it("rolls a migration back when the stream goes silent in the middle of round 0", async () => {
    const vm = new SyntheticVm(MEM, { fill: 1 });
    const link = memoryLink({ window: 2 });
    const receiver = new MigrationReceiver(
      { migrationId: "m2", vmId: "vm1", targetEpoch: 2, token: "t", memoryBytes: MEM },
      target(),
    );
    void receiveMigration(
      receiver,
      silentAfter(link.records, (n) => n < 3),
      link.port,
    );
    const report = await new MigrationSender(vm, link.sender, { ...options, migrationId: "m2" }).run();
    vm.stop();
    expect(report.outcome).toBe("rolled-back");
    expect(report.error?.code).toBe(MigrationErrorCode.STREAM_STALLED);
    expect(report.bytesSent).toBeGreaterThan(1_000_000); // past the hello, inside round 0
    expect(vm.paused).toBe(false);
  });
});
