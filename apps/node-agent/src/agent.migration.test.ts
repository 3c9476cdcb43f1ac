/**
 * Live migration between two real agent processes on 127.0.0.1 with the Linux guest: hops back and
 * forth with the guest idle and with `dirty` rewriting its memory, the guest's `counter` going on
 * (and its checksum unchanged when nothing writes); and failures before the commit (destination
 * VMM killed, destination agent killed, source agent killed, stream cut) leaving the source running
 * and the destination empty.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MigrationOutcome } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleViewer, call, LINUX, VmState, vmmPid, waitUntil } from "./test-support/harness.js";
import {
  counterGoesOn,
  counterLines,
  counterStillRuns,
  MigrationPair,
  other,
  slow,
  type Vm,
} from "./test-support/migration-pair.js";
import type { MigrateCall } from "./test-support/migration-rpcs.js";

const pair = new MigrationPair("migration-");
const cl = (w: "a" | "b") => pair.cl(w);
const agents = pair.agents;

beforeAll(() => pair.start());
afterAll(() => pair.stop());

const boot = (id: string, memoryMib: number) => pair.boot(id, memoryMib);
const begin = (vm: Vm, opts?: Parameters<MigrationPair["begin"]>[1]) => pair.begin(vm, opts);
const hop = (vm: Vm) => pair.hop(vm);
const rolledBack = (vm: Vm, h: MigrateCall) => pair.rolledBack(vm, h);

describe.skipIf(!existsSync(LINUX.kernel))("live migration between two agents", () => {
  let idle: Vm;
  let busy: Vm;

  it("boots two Linux VMs on agent a", async () => {
    [idle, busy] = await Promise.all([boot("mig-idle", 64), boot("mig-busy", 128)]);
    // idle: a 16 MiB buffer written once, then only the counter reads it (its checksum holds).
    idle.console.type("dirty 16 64 1\n");
    await idle.console.waitFor("dirty: stopped", 60_000);
    idle.console.type("counter &\n");
    // busy: rewrites 64 MiB at 20 MiB/s all along, the counter checking every page.
    busy.console.type("dirty 64 20 &\n");
    await busy.console.waitFor("dirty: 64 MiB", 30_000);
    busy.console.type("counter &\n");
    await Promise.all(
      [idle, busy].map((v) =>
        waitUntil("counter", () => counterLines(v.console.text).length >= 3, { timeoutMs: 60_000 }),
      ),
    );
  }, 300_000);

  it("moves the idle VM back and forth; counter and checksum carry on", async () => {
    const sum = counterLines(idle.console.text).at(-1)!.sum;
    for (let i = 0; i < 4; i++) {
      const r = await hop(idle);
      console.log(
        `idle hop ${i} -> ${idle.on}: downtime ${r.downtimeMs.toFixed(1)} ms, ${r.rounds} rounds, ${r.totalMs.toFixed(0)} ms`,
      );
      const lines = await counterGoesOn(idle, r.last!.n);
      for (const l of [r.last!, ...lines]) expect(l.sum).toBe(sum);
    }
  }, 300_000);

  it("moves the VM running dirty 64 20 back and forth; the counter's checks stay ok", async () => {
    for (let i = 0; i < 4; i++) {
      const r = await hop(busy);
      console.log(
        `busy hop ${i} -> ${busy.on}: downtime ${r.downtimeMs.toFixed(1)} ms, ${r.rounds} rounds, ${r.totalMs.toFixed(0)} ms`,
      );
      await counterGoesOn(busy, r.last!.n);
    }
    // Writer stopped: the checksum stands still, and one more hop does not change it.
    busy.console.type("dirty stop\n");
    await busy.console.waitFor("dirty: stopped", 30_000);
    const mark = busy.console.text.length;
    await waitUntil("stable counter", () => counterLines(busy.console.text.slice(mark)).length >= 3, {
      timeoutMs: 30_000,
    });
    const before = counterLines(busy.console.text.slice(mark)).at(-1)!;
    const r = await hop(busy);
    const lines = await counterGoesOn(busy, r.last!.n);
    for (const l of [r.last!, ...lines]) expect(l.sum).toBe(before.sum);
  }, 300_000);

  it("auto-converge: a guest that dirties faster than the (capped) link still moves, throttled", async () => {
    const vm = busy;
    // (A writer may still run when this test runs alone.)
    vm.console.type("dirty stop\n");
    await new Promise((r) => setTimeout(r, 1000));
    vm.console.type("dirty 16 40 &\n");
    await vm.console.waitFor("dirty: 16 MiB at 40", 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    // 40 MiB/s of writes over an 8 MB/s link: without throttling it never converges.
    const h = await begin(vm, {
      options: {
        ...slow,
        bandwidthBytesPerSec: 8_000_000,
        maxDowntimeMs: 100,
        maxRounds: 60,
        timeoutMs: 120_000,
      },
    });
    const result = await h.done;
    expect(result.errorMessage).toBe("");
    expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_COMMITTED);
    const s = result.stats!;
    console.log(
      `auto-converge: ${s.rounds.length} rounds, throttle up to ${s.maxThrottlePercent}%, downtime ${s.downtimeMs.toFixed(1)} ms, ` +
        `${(s.totalMs / 1000).toFixed(1)} s, rounds ${s.rounds.map((r) => `${r.pages}p@${r.throttlePercent}%`).join(" ")}`,
    );
    expect(s.maxThrottlePercent).toBeGreaterThan(0);
    // The progress stream carried every pre-copy round.
    expect(h.rounds.length).toBeGreaterThanOrEqual(s.rounds.length - 1);
    // Finish the hop's bookkeeping like hop() does, then let the guest check itself.
    await waitUntil("source console ends", () => vm.console.ended, { timeoutMs: 15_000 });
    const last = counterLines(vm.console.text).at(-1)!;
    vm.epoch++;
    vm.on = other(vm.on);
    vm.console = new ConsoleViewer(cl(vm.on), vm.id, vm.epoch);
    await counterGoesOn(vm, last.n);
    vm.console.type("dirty stop\n");
    await vm.console.waitFor("dirty: stopped", 30_000);
  }, 240_000);

  it("rolls back when the destination VMM is killed mid-stream", async () => {
    const vm = idle;
    const dst = other(vm.on);
    // A bandwidth cap stretches the transfer so there is time to kill.
    const h = await begin(vm, { options: slow });
    await waitUntil("stream started", () => vmmPid(agents[dst]!.dataDir, vm.id) > 0, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(vmmPid(agents[dst]!.dataDir, vm.id), "SIGKILL");
    const result = await rolledBack(vm, h);
    expect(result.errorCode).toMatch(/MIGRATION_/);
    await counterStillRuns(vm);
  }, 120_000);

  it("rolls back when the destination agent is killed mid-stream", async () => {
    const vm = busy;
    const dst = other(vm.on);
    const port = agents[dst]!.port;
    const h = await begin(vm, { options: slow });
    await new Promise((r) => setTimeout(r, 1500));
    await agents[dst]!.stop("SIGKILL");
    await expectRolledBack(vm, h);
    await pair.up(dst, port);
    await expect(call(cl(dst), "getVm", { vmId: vm.id })).rejects.toMatchObject({
      details: expect.stringMatching(/^VM_NOT_FOUND/),
    });
    expect(existsSync(join(agents[dst]!.dataDir, "vms", vm.id))).toBe(false);
  }, 120_000);

  it("rolls back when the source agent is killed mid-stream; the restarted agent finds the VM running", async () => {
    const vm = busy;
    const src = vm.on;
    const port = agents[src]!.port;
    const h = await begin(vm, { options: slow });
    await new Promise((r) => setTimeout(r, 1500));
    await agents[src]!.stop("SIGKILL");
    await h.done.catch(() => undefined);
    await pair.up(src, port);
    const dst = other(src);
    await waitUntil("destination discarded", () => !existsSync(join(agents[dst]!.dataDir, "vms", vm.id)), {
      timeoutMs: 15_000,
    });
    const got = await call(cl(src), "getVm", { vmId: vm.id });
    expect(got.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(got.vm?.ref?.epoch).toBe(vm.epoch);
    vm.console.close();
    vm.console = new ConsoleViewer(cl(src), vm.id, vm.epoch);
    await counterStillRuns(vm);
    // And it still migrates afterwards.
    await hop(vm);
  }, 180_000);
});

async function expectRolledBack(vm: Vm, h: MigrateCall) {
  const result = await h.done;
  expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK);
  const src = await call(cl(vm.on), "getVm", { vmId: vm.id });
  expect(src.vm?.state).toBe(VmState.VM_STATE_RUNNING);
  expect(src.vm?.ref?.epoch).toBe(vm.epoch);
  return result;
}
