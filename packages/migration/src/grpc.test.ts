import { ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MigrationErrorCode } from "./format.js";
import { connectMigration, type IncomingStream, serveMigration } from "./grpc.js";
import { MigrationReceiver, receiveMigration, type TargetVm } from "./receiver.js";
import { MigrationSender } from "./sender.js";
import { SyntheticVm } from "./test-support/synthetic-vm.js";
import { wallMs } from "./wall-clock.js";

const dir = mkdtempSync(join(tmpdir(), "skiff-mig-grpc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MEM = 32 * 1024 * 1024;

function target(name: string): TargetVm & { committed: boolean } {
  return {
    ram: new Uint8Array(new SharedArrayBuffer(MEM)),
    committed: false,
    openDisk(bytes) {
      const fd = openSync(join(dir, name), "w+");
      ftruncateSync(fd, bytes);
      return fd;
    },
    async commit() {
      this.committed = true;
      return { resumedAtMs: wallMs() };
    },
  };
}

const expectations = { migrationId: "g1", vmId: "vm", targetEpoch: 2, token: "tok", memoryBytes: MEM };
const senderOptions = { migrationId: "g1", vmId: "vm", sourceEpoch: 1, targetEpoch: 2, token: "tok" };

describe("migration over gRPC", () => {
  it("carries a migration between a client and a server", async () => {
    const t = target("g1.img");
    let result: Promise<{ committed: boolean }> | undefined;
    const server = await serveMigration("127.0.0.1", 0, (stream) => {
      result = receiveMigration(new MigrationReceiver(expectations, t), stream, stream);
    });
    const src = join(dir, "src1.img");
    writeFileSync(src, Buffer.alloc(1 << 20, 1));
    const vm = new SyntheticVm(MEM, { fill: 0.9, writesPerTick: 100, diskPath: src, diskBytes: 1 << 20 });
    const report = await new MigrationSender(
      vm,
      connectMigration(`127.0.0.1:${server.port}`),
      senderOptions,
    ).run();
    vm.stop();
    await server.close();
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe("committed");
    expect((await result)?.committed).toBe(true);
    expect(Buffer.compare(Buffer.from(t.ram), Buffer.from(vm.ram))).toBe(0);
    console.log(
      `in-process gRPC: ${(report.throughputBytesPerSec / 1e6).toFixed(0)} MB/s, ${report.rounds.length} rounds, ` +
        `downtime ${report.downtimeMs.toFixed(1)} ms`,
    );
  });

  it("rolls back when the destination breaks the stream mid-transfer", async () => {
    const t = target("g2.img");
    let incoming: IncomingStream | undefined;
    const server = await serveMigration("127.0.0.1", 0, (stream) => {
      incoming = stream;
      const receiver = new MigrationReceiver(expectations, t);
      void (async () => {
        let n = 0;
        for await (const rec of stream) {
          for (const r of await receiver.receive(rec)) stream.reply(r);
          if (++n === 5) stream.abort("destination killed");
        }
      })().catch(() => undefined);
    });
    const vm = new SyntheticVm(MEM, { fill: 0.9 });
    const report = await new MigrationSender(
      vm,
      connectMigration(`127.0.0.1:${server.port}`),
      senderOptions,
    ).run();
    vm.stop();
    await server.close();
    expect(incoming).toBeDefined();
    expect(report.outcome).toBe("rolled-back");
    expect(report.error?.code).toBe(MigrationErrorCode.STREAM_BROKEN);
    expect(vm.paused).toBe(false);
    expect(t.committed).toBe(false);
  });

  it("rolls back when nothing listens at the destination", async () => {
    const server = await serveMigration("127.0.0.1", 0, () => undefined);
    const port = server.port;
    await server.close();
    const vm = new SyntheticVm(1 << 20);
    const report = await new MigrationSender(vm, connectMigration(`127.0.0.1:${port}`), {
      ...senderOptions,
      timeoutMs: 5000,
    }).run();
    vm.stop();
    expect(report.outcome).toBe("rolled-back");
    expect(vm.paused).toBe(false);
  });
});
