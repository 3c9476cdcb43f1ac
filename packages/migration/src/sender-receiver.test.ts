import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MigrationPhase } from "@skiff/proto";
import { afterAll, describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord } from "./codec.js";
import { MigrationErrorCode } from "./format.js";
import { MigrationReceiver, receiveMigration, type TargetVm } from "./receiver.js";
import { MigrationSender, type SenderOptions } from "./sender.js";
import { memoryLink } from "./stream-ends.js";
import { SyntheticVm } from "./test-support/synthetic-vm.js";
import { wallMs } from "./wall-clock.js";

const dir = mkdtempSync(join(tmpdir(), "skiff-mig-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MEM = 8 * 1024 * 1024;
const DISK = 2 * 1024 * 1024 + 512; // not a multiple of the block size on purpose

class MemTarget implements TargetVm {
  readonly ram = new Uint8Array(new SharedArrayBuffer(MEM));
  diskFd = -1;
  committedState: Uint8Array | undefined;
  constructor(
    private readonly diskPath: string,
    private readonly refuseCommit = false,
  ) {}
  openDisk(bytes: number): number {
    this.diskFd = openSync(this.diskPath, "w+");
    ftruncateSync(this.diskFd, bytes);
    return this.diskFd;
  }
  async commit(state: Uint8Array): Promise<{ resumedAtMs: number }> {
    if (this.refuseCommit) throw new Error("disk full");
    this.committedState = state;
    return { resumedAtMs: wallMs() };
  }
  close(): void {
    if (this.diskFd >= 0) closeSync(this.diskFd);
  }
}

let n = 0;
function setup(opts: { writesPerTick?: number; cutAfterBytes?: number; refuseCommit?: boolean } = {}) {
  const id = ++n;
  const srcDisk = join(dir, `src-${id}.img`);
  const disk = Buffer.alloc(DISK);
  for (let b = 0; b < DISK; b += 4096 * 3) disk.write(`block ${b}`, b);
  writeFileSync(srcDisk, disk);
  const vm = new SyntheticVm(MEM, {
    diskPath: srcDisk,
    diskBytes: DISK,
    writesPerTick: opts.writesPerTick ?? 0,
  });
  const target = new MemTarget(join(dir, `dst-${id}.img`), opts.refuseCommit);
  const link = memoryLink({ cutAfterBytes: opts.cutAfterBytes });
  const expectations = {
    migrationId: `m${id}`,
    vmId: "vm1",
    targetEpoch: 5,
    token: "secret",
    memoryBytes: MEM,
  };
  const receiver = new MigrationReceiver(expectations, target);
  const received = receiveMigration(receiver, link.records, link.port);
  const options: SenderOptions = {
    migrationId: `m${id}`,
    vmId: "vm1",
    sourceEpoch: 4,
    targetEpoch: 5,
    token: "secret",
    maxDowntimeMs: 5,
  };
  return { vm, target, link, receiver, received, options, srcDisk, dstDisk: join(dir, `dst-${id}.img`) };
}

describe("sender and receiver", () => {
  it("moves RAM and disk of a VM that keeps writing, and both ends agree at commit", async () => {
    const s = setup({ writesPerTick: 200 });
    const rounds: number[] = [];
    const phases: string[] = [];
    const report = await new MigrationSender(s.vm, s.link.sender, {
      ...s.options,
      onRound: (r) => rounds.push(r.round),
      // Entered phases, in the order the control plane sees them (with the pause state then).
      onPhase: (p) => phases.push(`${MigrationPhase[p]} paused=${s.vm.paused}`),
    }).run();
    s.vm.stop();
    s.target.close();
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe("committed");
    expect((await s.received).committed).toBe(true);
    expect(report.rounds.length).toBeGreaterThanOrEqual(2);
    expect(rounds).toEqual(report.rounds.map((r) => r.round));
    expect(phases).toEqual([
      "MIGRATION_PHASE_STOPCOPY paused=true",
      "MIGRATION_PHASE_COMMITTING paused=true",
    ]);
    // Paused at the end (the source never resumes after a commit), RAM and disk identical.
    expect(s.vm.paused).toBe(true);
    expect(s.vm.resumes).toBe(0);
    expect(Buffer.compare(Buffer.from(s.target.ram), Buffer.from(s.vm.ram))).toBe(0);
    expect(Buffer.compare(readFileSync(s.dstDisk), readFileSync(s.srcDisk))).toBe(0);
    expect(Buffer.from(s.target.committedState!).toString()).toMatch(/^state at gen/);
    expect(report.bytesSent).toBeLessThan(MEM);
    expect(report.nonZeroBytes).toBeGreaterThan(0);
    // The pause, step by step on one clock: each step the other end took after the one that led
    // to it, and the first instruction is the downtime.
    const b = report.stopCopy!;
    expect(b.lastPageSentMs).toBeGreaterThanOrEqual(0);
    expect(b.stateArrivedMs).toBeGreaterThan(0);
    expect(b.verifiedMs).toBeGreaterThanOrEqual(b.stateArrivedMs);
    expect(b.firstInstructionMs).toBeGreaterThanOrEqual(b.verifiedMs);
    expect(b.committedAnswerMs).toBeGreaterThanOrEqual(b.firstInstructionMs);
    expect(b.firstInstructionMs).toBe(report.downtimeMs);
    expect(b.restoredMs).toBe(0); // this target does not say
  });

  it("sends the commit inside the device state, or on its own to a destination that does not take it so", async () => {
    for (const takesIt of [true, false]) {
      const s = setup({ writesPerTick: 50 });
      // A destination of the previous build does not answer commitWithState.
      const reply = s.link.port.reply;
      s.link.port.reply = (r) =>
        reply(
          r.kind?.$case === "ready" && !takesIt
            ? { kind: { $case: "ready", value: { formatVersion: 1 } } }
            : r,
        );
      const kinds: string[] = [];
      const send = s.link.sender.send;
      const link = {
        ...s.link.sender,
        send: (...records: Buffer[]) => {
          for (const r of records) {
            const d = decodeRecord(r);
            if (d.kind !== "other") continue;
            const k = d.record.kind!;
            kinds.push(k.$case === "deviceState" && k.value.commit ? "deviceState+commit" : k.$case);
          }
          return send(...records);
        },
      };
      const report = await new MigrationSender(s.vm, link, s.options).run();
      s.vm.stop();
      s.target.close();
      expect(report.outcome, `takes it: ${takesIt}`).toBe("committed");
      expect((await s.received).committed).toBe(true);
      expect(Buffer.compare(Buffer.from(s.target.ram), Buffer.from(s.vm.ram))).toBe(0);
      expect(kinds.slice(-2)).toEqual(
        takesIt ? ["roundEnd", "deviceState+commit"] : ["deviceState", "commit"],
      );
    }
  });

  it("rolls back when the destination refuses the hello, and the source resumes", async () => {
    const s = setup();
    const phases: MigrationPhase[] = [];
    const report = await new MigrationSender(s.vm, s.link.sender, {
      ...s.options,
      token: "wrong",
      onPhase: (p) => phases.push(p),
    }).run();
    s.vm.stop();
    s.target.close();
    expect(report.outcome).toBe("rolled-back");
    expect(phases).toEqual([]);
    expect(report.error?.code).toBe(MigrationErrorCode.REFUSED);
    expect((await s.received).committed).toBe(false);
    expect(s.vm.paused).toBe(false);
  });

  it("rolls back when the destination cannot commit", async () => {
    const s = setup({ refuseCommit: true });
    const report = await new MigrationSender(s.vm, s.link.sender, s.options).run();
    s.vm.stop();
    s.target.close();
    expect(report.outcome).toBe("rolled-back");
    expect(report.error?.code).toBe(MigrationErrorCode.TARGET_FAILED);
    expect(s.vm.paused).toBe(false);
    expect(s.vm.resumes).toBe(1);
  });

  it("rolls back on a stream cut anywhere before the commit; the receiver never commits", async () => {
    const full = setup();
    const total = await (async () => {
      await new MigrationSender(full.vm, full.link.sender, full.options).run();
      full.vm.stop();
      full.target.close();
      return full.link.bytes();
    })();
    for (const frac of [0, 0.001, 0.2, 0.5, 0.9, 0.999]) {
      const cut = Math.floor(total * frac);
      const s = setup({ writesPerTick: 20, cutAfterBytes: cut });
      const report = await new MigrationSender(s.vm, s.link.sender, s.options).run();
      s.vm.stop();
      s.target.close();
      const got = await s.received;
      expect(got.committed, `cut at ${cut}`).toBe(false);
      expect(report.outcome, `cut at ${cut}`).toBe("rolled-back");
      expect(s.vm.paused).toBe(false);
      expect(s.vm.throttle).toBe(0);
    }
  });

  it("ends IN_DOUBT, paused, when the answer to a sent commit is lost", async () => {
    const s = setup();
    // The receiver commits but its reply never arrives.
    const reply = s.link.port.reply;
    s.link.port.reply = (r) => {
      if (r.kind?.$case !== "committed") reply(r);
    };
    const report = await new MigrationSender(s.vm, s.link.sender, { ...s.options, timeoutMs: 3000 }).run();
    s.vm.stop();
    s.target.close();
    expect((await s.received).committed).toBe(true);
    expect(report.outcome).toBe("in-doubt");
    expect(report.error?.code).toBe(MigrationErrorCode.IN_DOUBT);
    expect(s.vm.paused).toBe(true);
    expect(s.vm.resumes).toBe(0);
  });

  it("stops on cancel and resumes the source", async () => {
    const s = setup({ writesPerTick: 50 });
    const ac = new AbortController();
    const sender = new MigrationSender(s.vm, s.link.sender, {
      ...s.options,
      signal: ac.signal,
      maxDowntimeMs: 0.001,
      onRound: () => ac.abort(),
    });
    const report = await sender.run();
    s.vm.stop();
    s.target.close();
    expect(report.outcome).toBe("rolled-back");
    expect(report.error?.code).toBe(MigrationErrorCode.CANCELLED);
    expect((await s.received).error?.code).toBe(MigrationErrorCode.ABORTED);
    expect(s.vm.paused).toBe(false);
  });
});

describe("receiver checks", () => {
  const hello = (over: Record<string, unknown> = {}) =>
    encodeRecord({
      kind: {
        $case: "hello",
        value: {
          formatVersion: 1,
          migrationId: "m",
          vmId: "vm1",
          sourceEpoch: 1,
          targetEpoch: 2,
          token: "tok",
          memoryBytes: MEM,
          pageSize: 4096,
          diskBytes: 0,
          diskBlockSize: 4096,
          ...over,
        },
      },
    });
  const fresh = () =>
    new MigrationReceiver(
      { migrationId: "m", vmId: "vm1", targetEpoch: 2, token: "tok", memoryBytes: MEM },
      new MemTarget(join(dir, "unused.img")),
    );

  it("refuses a hello that does not match what was prepared", async () => {
    for (const bad of [
      { formatVersion: 2 },
      { token: "tok2" },
      { vmId: "vm2" },
      { targetEpoch: 3 },
      { sourceEpoch: 2 },
      { memoryBytes: MEM * 2 },
      { migrationId: "other" },
    ]) {
      await expect(fresh().receive(hello(bad)), JSON.stringify(bad)).rejects.toMatchObject({
        code: MigrationErrorCode.REFUSED,
      });
    }
    expect(await fresh().receive(hello())).toEqual([
      { kind: { $case: "ready", value: { formatVersion: 1, commitWithState: true } } },
    ]);
  });

  it("aborts on records out of order, unknown, malformed or out of range", async () => {
    const pages = (items: number[], dataLen = items.length * 4096) =>
      encodeRecord({
        kind: {
          $case: "pages",
          value: {
            round: 0,
            pages: items,
            zeroPages: [],
            data: Buffer.alloc(dataLen),
            compression: 0,
            align: Buffer.alloc(0),
          },
        },
      });
    const cases: [string, Uint8Array[]][] = [
      ["pages before hello", [pages([1])]],
      ["hello twice", [hello(), hello()]],
      ["page out of range", [hello(), pages([MEM / 4096])]],
      ["short data", [hello(), pages([1, 2], 4096)]],
      ["unknown kind", [hello(), Buffer.from([0x7a, 0x01, 0x00])]],
      ["garbage", [hello(), Buffer.from([0x12, 0x05, 0x01])]],
      [
        "commit before state",
        [
          hello(),
          encodeRecord({
            kind: {
              $case: "commit",
              value: {
                targetEpoch: 2,
                nonzeroPages: 0,
                nonzeroBlocks: 0,
                ramChecksum: 0,
                diskChecksum: 0,
                records: 1,
              },
            },
          }),
        ],
      ],
      [
        "disk blocks without a disk",
        [
          hello(),
          encodeRecord({
            kind: {
              $case: "disk",
              value: {
                round: 0,
                blocks: [0],
                zeroBlocks: [],
                data: Buffer.alloc(4096),
                compression: 0,
                align: Buffer.alloc(0),
              },
            },
          }),
        ],
      ],
      [
        "bad compression",
        [
          hello(),
          encodeRecord({
            kind: {
              $case: "pages",
              value: {
                round: 0,
                pages: [1],
                zeroPages: [],
                data: Buffer.alloc(10),
                compression: 1,
                align: Buffer.alloc(0),
              },
            },
          }),
        ],
      ],
    ];
    for (const [name, records] of cases) {
      const r = fresh();
      let err: unknown;
      try {
        for (const rec of records) await r.receive(rec);
      } catch (e) {
        err = e;
      }
      expect(err, name).toMatchObject({ code: MigrationErrorCode.PROTOCOL });
    }
  });

  it("fails verification when a page went missing, the commit inside the state or behind it", async () => {
    const commit = (records: number) => ({
      targetEpoch: 2,
      nonzeroPages: 1,
      nonzeroBlocks: 0,
      ramChecksum: 1,
      diskChecksum: 0,
      records,
    });
    const state = (withCommit?: ReturnType<typeof commit>) =>
      encodeRecord({
        kind: {
          $case: "deviceState",
          value: { snapshot: Buffer.from("x"), pausedAtMs: 0, ...(withCommit ? { commit: withCommit } : {}) },
        },
      });
    const r = fresh();
    await r.receive(hello());
    await r.receive(state());
    await expect(
      r.receive(encodeRecord({ kind: { $case: "commit", value: commit(2) } })),
    ).rejects.toMatchObject({ code: MigrationErrorCode.VERIFY_FAILED });
    expect(r.committed).toBe(false);
    const one = fresh();
    await one.receive(hello());
    await expect(one.receive(state(commit(1)))).rejects.toMatchObject({
      code: MigrationErrorCode.VERIFY_FAILED,
    });
    expect(one.committed).toBe(false);
  });
});
