/**
 * Live migration under faults, between two real agents with the Linux guest: the stream cut at
 * random byte offsets (seeded; SKIFF_TEST_SEED overrides), and each of the destination VMM, the
 * destination agent and the source agent killed -9 right after the destination prepared and in
 * the middle of stop-and-copy (mid-pre-copy kills are in agent.migration.test.ts). Whatever the
 * outcome, exactly one copy runs, at the epoch that says where, and the guest's counter and
 * checksum go on intact.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { rng } from "@skiff/devkit";
import { MigrationOutcome, MigrationPhase } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleViewer, call, LINUX, VmState, vmmPid, waitUntil } from "./test-support/harness.js";
import {
  counterGoesOn,
  counterLines,
  counterStillRuns,
  cuttingProxy,
  MigrationPair,
  other,
  type Side,
  type Vm,
} from "./test-support/migration-pair.js";
import type { MigrateCall } from "./test-support/migration-rpcs.js";

const pair = new MigrationPair("faults-");
beforeAll(() => pair.start());
afterAll(() => pair.stop());

/**
 * After a migration that may have gone either way: checks the VM runs only where the outcome says,
 * then that the guest's counter goes on there, all ok, with the checksum `sum` when given.
 */
async function settle(
  vm: Vm,
  h: MigrateCall,
  srcPid: number,
  sum?: string,
): Promise<"committed" | "rolled-back"> {
  const result = await h.done;
  if (result.outcome === MigrationOutcome.MIGRATION_OUTCOME_COMMITTED) {
    const last = await pair.movedOn(vm, srcPid);
    const lines = await counterGoesOn(vm, last!.n);
    if (sum) for (const l of lines) expect(l.sum).toBe(sum);
    return "committed";
  }
  expect(result.outcome, `${result.errorCode} ${result.errorMessage}`).toBe(
    MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK,
  );
  // A link fault, never anything else: a cut seen at once (BROKEN), a peer gone silent (STALLED, the
  // stall guard), or a commit whose answer was lost (IN_DOUBT, resolved).
  expect(result.errorCode).toMatch(/^MIGRATION_(STREAM_BROKEN|STREAM_STALLED|IN_DOUBT)$/);
  const src = await call(pair.cl(vm.on), "getVm", { vmId: vm.id });
  expect(src.vm?.state).toBe(VmState.VM_STATE_RUNNING);
  expect(src.vm?.ref?.epoch).toBe(vm.epoch);
  await pair.destinationEmpty(vm);
  await counterStillRuns(vm);
  if (sum) expect(counterLines(vm.console.text).at(-1)!.sum).toBe(sum);
  return "rolled-back";
}

/** Exactly one of the two agents runs the VM; returns which, at which epoch. */
async function theOneCopy(vm: Vm): Promise<{ on: Side; epoch: number }> {
  const held: { on: Side; epoch: number }[] = [];
  for (const w of ["a", "b"] as const) {
    const got = await call(pair.cl(w), "getVm", { vmId: vm.id }).catch(() => undefined);
    if (got?.vm?.state === VmState.VM_STATE_RUNNING) held.push({ on: w, epoch: Number(got.vm.ref?.epoch) });
    else if (got?.vm) throw new Error(`${w} holds ${vm.id} in state ${got.vm.state}`);
  }
  expect(held, JSON.stringify(held)).toHaveLength(1);
  return held[0]!;
}

describe.skipIf(!existsSync(LINUX.kernel))("live migration under faults", () => {
  let idle: Vm;
  let busy: Vm;

  it("boots two Linux VMs", async () => {
    [idle, busy] = await Promise.all([pair.boot("flt-idle", 64), pair.boot("flt-busy", 64)]);
    idle.console.type("dirty 16 64 1\n");
    await idle.console.waitFor("dirty: stopped", 60_000);
    idle.console.type("counter &\n");
    busy.console.type("dirty 16 20 &\n");
    await busy.console.waitFor("dirty: 16 MiB", 30_000);
    busy.console.type("counter &\n");
    for (const v of [idle, busy]) {
      await waitUntil("counter", () => counterLines(v.console.text).length >= 3, { timeoutMs: 60_000 });
    }
  }, 300_000);

  it("cut at random byte offsets of the stream: one copy runs after each, the guest intact", async () => {
    const vm = idle;
    const sum = counterLines(vm.console.text).at(-1)!.sum;
    // The stream's length, from one uncut hop through the proxy.
    let proxy: Awaited<ReturnType<typeof cuttingProxy>> | undefined;
    const through = async (limit: number, sum?: string) => {
      const srcPid = vmmPid(pair.agents[vm.on]!.dataDir, vm.id);
      const h = await pair.begin(vm, {
        via: async (addr) => {
          proxy = await cuttingProxy(addr, limit);
          return proxy.address;
        },
      });
      const outcome = await settle(vm, h, srcPid, sum);
      proxy!.server.close();
      return { outcome, passed: proxy!.passed() };
    };
    const full = await through(Number.POSITIVE_INFINITY, sum);
    expect(full.outcome).toBe("committed");
    const length = full.passed;
    const seed = Number(process.env.SKIFF_TEST_SEED ?? 20261202);
    const random = rng(seed);
    // Anywhere in the stream, and near its end, where the device state and the commit travel
    // (hops differ by a few pages, so a cut near the end may fall on either side of the commit).
    const offsets = [
      // Inside the hello, before the destination has prepared anything.
      200,
      ...Array.from({ length: 5 }, () => Math.floor(random() * length)),
      ...Array.from({ length: 3 }, () => length - 1 - Math.floor(random() * 64 * 1024)),
      // Right at the end: the commit may arrive and its answer be lost (in doubt, then resolved).
      length - 8,
      length,
    ];
    const seen: string[] = [];
    for (const limit of offsets) {
      const r = await through(limit, sum);
      seen.push(`${limit}/${length}: ${r.outcome}`);
    }
    console.log(`seed ${seed}, stream ${length} bytes, cuts: ${seen.join(", ")}`);
    expect(seen.filter((s) => s.endsWith("rolled-back")).length).toBeGreaterThan(0);
  }, 300_000);

  /**
   * A hop that spends seconds in stop-and-copy: one pre-copy round over an 8 MB/s link while the
   * guest rewrites its 16 MiB working set, so the whole set is left for the paused copy.
   */
  const longStopCopy = {
    bandwidthBytesPerSec: 8_000_000,
    maxDowntimeMs: 0,
    maxRounds: 1,
    timeoutMs: 120_000,
    disableAutoConverge: true,
    compression: 1,
  };

  type Victim = "destination VMM" | "destination agent" | "source agent";
  async function kill(vm: Vm, victim: Victim): Promise<() => Promise<void>> {
    const side = victim === "source agent" ? vm.on : other(vm.on);
    if (victim === "destination VMM") {
      process.kill(vmmPid(pair.agents[side]!.dataDir, vm.id), "SIGKILL");
      return async () => undefined;
    }
    const port = pair.agents[side]!.port;
    await pair.agents[side]!.stop("SIGKILL");
    return () => pair.up(side, port);
  }

  /** Kills the victim at the phase, then checks the outcome once the dead agent is back. */
  async function faultAt(vm: Vm, phase: "prepared" | "stopcopy", victim: Victim) {
    const from = vm.on;
    const srcPid = vmmPid(pair.agents[from]!.dataDir, vm.id);
    let restart: () => Promise<void> = async () => undefined;
    let h: MigrateCall & { migrationId: string };
    if (phase === "prepared") {
      // The destination's shell waits; the source has not been told yet.
      let prepared = false;
      h = await pair.begin(vm, {
        options: longStopCopy,
        via: async (addr) => {
          prepared = true;
          restart = await kill(vm, victim);
          return addr;
        },
      });
      expect(prepared).toBe(true);
    } else {
      h = await pair.begin(vm, { options: longStopCopy });
      await waitUntil("stop-and-copy", () => h.phases.includes(MigrationPhase.MIGRATION_PHASE_STOPCOPY), {
        timeoutMs: 60_000,
      });
      await new Promise((r) => setTimeout(r, 300));
      restart = await kill(vm, victim);
    }
    const answered = await h.done.then(
      (r) => r,
      () => undefined,
    );
    await restart();
    if (victim === "source agent" && phase === "prepared") {
      // Nobody could tell the source: the control plane aborts the waiting shell.
      expect(answered).toBeUndefined();
      await call(pair.cl(other(from)), "abortMigrationTarget", { vmId: vm.id, migrationId: h.migrationId });
    }
    // The dead agent is back: exactly one copy runs, and it is the one the epochs say.
    await waitUntil("one copy", async () => (await theOneCopy(vm).catch(() => undefined)) !== undefined, {
      timeoutMs: 30_000,
    });
    const one = await theOneCopy(vm);
    const outcome = one.on === from ? "rolled-back" : "committed";
    if (answered) {
      expect(answered.outcome).toBe(
        outcome === "committed"
          ? MigrationOutcome.MIGRATION_OUTCOME_COMMITTED
          : MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK,
      );
    }
    if (outcome === "committed") {
      expect(one.epoch).toBe(vm.epoch + 1);
      const last = await pair.movedOn(vm, victim === "source agent" ? 0 : srcPid);
      await counterGoesOn(vm, last?.n ?? 0);
    } else {
      expect(one.epoch).toBe(vm.epoch);
      await pair.destinationEmpty(vm);
      if (victim === "source agent") {
        // Its console went with the agent: watch the guest through the restarted one, from the
        // last line seen before (the replay), then for new lines.
        const seen = counterLines(vm.console.text).at(-1)?.n ?? 0;
        vm.console.close();
        vm.console = new ConsoleViewer(pair.cl(vm.on), vm.id, vm.epoch);
        await waitUntil("replay", () => counterLines(vm.console.text).some((l) => l.n >= seen), {
          timeoutMs: 30_000,
        });
      }
      await counterStillRuns(vm);
    }
    return outcome;
  }

  it("stream cut in stop-and-copy: rolled back, the source resumes, the guest intact", async () => {
    const vm = busy;
    let proxy: Awaited<ReturnType<typeof cuttingProxy>> | undefined;
    const h = await pair.begin(vm, {
      options: longStopCopy,
      via: async (addr) => {
        proxy = await cuttingProxy(addr, Number.POSITIVE_INFINITY);
        return proxy.address;
      },
    });
    // The paused copy of a 16 MiB working set over 8 MB/s takes about two seconds: a cut 300 ms in
    // lands inside it, well before the commit.
    await waitUntil("stop-and-copy", () => h.phases.includes(MigrationPhase.MIGRATION_PHASE_STOPCOPY), {
      timeoutMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    proxy!.cut();
    const srcPid = vmmPid(pair.agents[vm.on]!.dataDir, vm.id);
    expect(await settle(vm, h, srcPid)).toBe("rolled-back");
    expect(vmmPid(pair.agents[vm.on]!.dataDir, vm.id)).toBe(srcPid);
    console.log(`stream cut in stop-and-copy after ${proxy!.passed()} bytes: rolled back`);
    proxy!.server.close();
  }, 180_000);

  for (const phase of ["prepared", "stopcopy"] as const) {
    for (const victim of ["destination VMM", "destination agent", "source agent"] as const) {
      it(`${victim} killed -9 ${phase === "prepared" ? "once the destination prepared" : "in stop-and-copy"}: one copy, guest intact`, async () => {
        const outcome = await faultAt(busy, phase, victim);
        console.log(`${victim} killed (${phase}): ${outcome}`);
        // A dead destination VMM can never have committed.
        if (victim === "destination VMM") expect(outcome).toBe("rolled-back");
        expect(existsSync(join(pair.agents[other(busy.on)]!.dataDir, "vms", busy.id))).toBe(false);
      }, 180_000);
    }
  }
});
