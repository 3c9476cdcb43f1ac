/**
 * Live migration between two real agent processes on 127.0.0.1 with the Linux guest: hops back and
 * forth with the guest idle and with `dirty` rewriting its memory, the guest's `counter` going on
 * (and its checksum unchanged when nothing writes); and failures before the commit (destination
 * VMM killed, destination agent killed, source agent killed, stream cut) leaving the source running
 * and the destination empty.
 */
import { existsSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { MigrationOutcome, type VmSpec } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MigrateCall, startHop } from "./migration/testing.js";
import {
  type AgentProcess,
  agentClient,
  ConsoleViewer,
  call,
  isAlive,
  killVmms,
  LINUX,
  linuxVm,
  makeTempDir,
  startAgent,
  VmState,
  vmmPid,
  waitUntil,
} from "./testing/harness.js";

const PROMPT = "skiff# ";
const tmp = makeTempDir("skiff-migration-");
const dirs = { a: join(tmp.path, "a"), b: join(tmp.path, "b") };
const agents: Record<"a" | "b", AgentProcess | undefined> = { a: undefined, b: undefined };
const clients: Record<"a" | "b", ReturnType<typeof agentClient> | undefined> = { a: undefined, b: undefined };

async function up(which: "a" | "b", port?: number): Promise<void> {
  agents[which] = await startAgent({ dataDir: dirs[which], ...(port ? { port } : {}) });
  clients[which]?.close();
  clients[which] = agentClient(agents[which].port);
}
const cl = (w: "a" | "b") => clients[w]!;
const other = (w: "a" | "b"): "a" | "b" => (w === "a" ? "b" : "a");

beforeAll(async () => {
  await Promise.all([up("a"), up("b")]);
});

afterAll(async () => {
  for (const w of ["a", "b"] as const) {
    clients[w]?.close();
    await agents[w]?.stop();
    killVmms(dirs[w]);
  }
  tmp.remove();
});

const COUNTER = /counter (\d+) ([0-9a-f]{8}) (\d+):(\d+) (ok|bad=\d+)/g;
function counterLines(text: string) {
  return [...text.matchAll(COUNTER)].map((m) => ({ n: Number(m[1]), sum: m[2]!, status: m[5]! }));
}

interface Vm {
  id: string;
  epoch: number;
  on: "a" | "b";
  spec: VmSpec;
  console: ConsoleViewer;
}

async function boot(id: string, memoryMib: number): Promise<Vm> {
  const req = linuxVm(id, memoryMib);
  await call(cl("a"), "createVm", req);
  const console = new ConsoleViewer(cl("a"), id, 1);
  await console.waitFor(PROMPT, 240_000);
  return { id, epoch: 1, on: "a", spec: req.spec!, console };
}

let hopNo = 0;
async function begin(
  vm: Vm,
  opts: {
    via?: (a: string) => string | Promise<string>;
    options?: Parameters<typeof startHop>[0]["options"];
  } = {},
) {
  const to = other(vm.on);
  return startHop({
    from: cl(vm.on),
    to: cl(to),
    toAgentAddress: `127.0.0.1:${agents[to]!.port}`,
    vmId: vm.id,
    epoch: vm.epoch,
    spec: vm.spec,
    migrationId: `mig-${++hopNo}`,
    ...opts,
  });
}

/** One committed hop: the VM runs on the other agent at epoch + 1, the source holds nothing. */
async function hop(vm: Vm): Promise<{
  downtimeMs: number;
  rounds: number;
  totalMs: number;
  last: { n: number; sum: string } | undefined;
}> {
  const from = vm.on;
  const to = other(from);
  const srcPid = vmmPid(agents[from]!.dataDir, vm.id);
  const h = await begin(vm);
  const result = await h.done;
  expect(result.errorMessage).toBe("");
  expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_COMMITTED);
  // The source's console ends when its VMM exits: then it holds every line printed there.
  await waitUntil("source console ends", () => vm.console.ended, { timeoutMs: 15_000 });
  const last = counterLines(vm.console.text).at(-1);
  const bad = counterLines(vm.console.text).findIndex((l) => l.status !== "ok");
  if (bad >= 0) {
    const at = vm.console.text.indexOf(`counter ${counterLines(vm.console.text)[bad]!.n} `);
    console.log(
      `--- ${vm.id}: first bad line before the hop:\n${vm.console.text.slice(Math.max(0, at - 1500), at + 300)}`,
    );
  }
  vm.epoch++;
  vm.on = to;
  const got = await call(cl(to), "getVm", { vmId: vm.id });
  expect(got.vm?.state).toBe(VmState.VM_STATE_RUNNING);
  expect(got.vm?.ref?.epoch).toBe(vm.epoch);
  await expect(call(cl(from), "getVm", { vmId: vm.id })).rejects.toMatchObject({
    details: expect.stringMatching(/^VM_NOT_FOUND/),
  });
  await waitUntil("source VMM gone", () => !isAlive(srcPid), { timeoutMs: 10_000 });
  expect(existsSync(join(agents[from]!.dataDir, "vms", vm.id))).toBe(false);
  // The old epoch is fenced on the new node.
  await expect(call(cl(to), "pauseVm", { ref: { vmId: vm.id, epoch: vm.epoch - 1 } })).rejects.toMatchObject({
    details: expect.stringMatching(/^STALE_EPOCH/),
  });
  // With replay: everything the guest printed on the new node since it resumed.
  vm.console = new ConsoleViewer(cl(to), vm.id, vm.epoch);
  const s = result.stats!;
  return { downtimeMs: s.downtimeMs, rounds: s.rounds.length, totalMs: s.totalMs, last };
}

/** Waits for `n` fresh counter lines on the VM's console and checks them. */
async function counterGoesOn(vm: Vm, after: number, n = 3) {
  await waitUntil("counter lines", () => counterLines(vm.console.text).length >= n, { timeoutMs: 60_000 });
  const lines = counterLines(vm.console.text);
  // The same process counts on: no restart at 1, no lines lost or repeated.
  const firstBad = lines.find((l) => l.status !== "ok");
  if (firstBad) console.log(`--- bad counter on ${vm.id}:\n${vm.console.text.slice(-3000)}`);
  if (after > 0) expect(lines[0]!.n).toBe(after + 1);
  for (let i = 1; i < lines.length; i++) expect(lines[i]!.n).toBe(lines[i - 1]!.n + 1);
  for (const l of lines) expect(l.status).toBe("ok");
  return lines;
}

/** The counter goes on on the same console: new lines, consecutive, all ok. */
async function counterStillRuns(vm: Vm) {
  const mark = vm.console.text.length;
  await waitUntil("counter goes on", () => counterLines(vm.console.text.slice(mark)).length >= 3, {
    timeoutMs: 30_000,
  });
  const all = counterLines(vm.console.text);
  for (let i = 1; i < all.length; i++) expect(all[i]!.n).toBe(all[i - 1]!.n + 1);
  for (const l of all) expect(l.status).toBe("ok");
}

/** A TCP proxy that passes the first `limit` bytes source->destination, then cuts both ways. */
function cuttingProxy(
  target: string,
  limit: number,
): Promise<{ address: string; server: Server; passed: () => number }> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  let passed = 0;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(port, host);
    sockets.add(inbound).add(outbound);
    const cut = () => {
      for (const s of sockets) s.destroy();
    };
    inbound.on("data", (chunk: Buffer) => {
      const room = limit - passed;
      if (room <= 0) return cut();
      outbound.write(room >= chunk.length ? chunk : chunk.subarray(0, room));
      passed += Math.min(room, chunk.length);
      if (passed >= limit) cut();
    });
    outbound.on("data", (chunk: Buffer) => inbound.write(chunk));
    inbound.on("error", cut).on("close", cut);
    outbound.on("error", cut).on("close", cut);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({
        address: `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`,
        server,
        passed: () => passed,
      });
    }),
  );
}

/** After a failed migration: rolled back, the source still runs the VM at its epoch, the destination holds nothing. */
async function rolledBack(vm: Vm, h: MigrateCall) {
  const result = await h.done;
  expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK);
  const src = await call(cl(vm.on), "getVm", { vmId: vm.id });
  expect(src.vm?.state).toBe(VmState.VM_STATE_RUNNING);
  expect(src.vm?.ref?.epoch).toBe(vm.epoch);
  const dst = other(vm.on);
  await waitUntil("destination discarded", () => !existsSync(join(agents[dst]!.dataDir, "vms", vm.id)), {
    timeoutMs: 15_000,
  });
  await expect(call(cl(dst), "getVm", { vmId: vm.id })).rejects.toMatchObject({
    details: expect.stringMatching(/^VM_NOT_FOUND/),
  });
  return result;
}

describe.skipIf(!existsSync(LINUX.kernel))("live migration between two agents", () => {
  let idle: Vm;
  let busy: Vm;

  it("boots two Linux VMs on agent a", async () => {
    [idle, busy] = await Promise.all([boot("mig-idle", 64), boot("mig-busy", 64)]);
    // idle: a 16 MiB buffer written once, then only the counter reads it (its checksum holds).
    idle.console.type("dirty 16 64 1\n");
    await idle.console.waitFor("dirty: stopped", 60_000);
    idle.console.type("counter &\n");
    // busy: rewrites 16 MiB at 20 MiB/s all along, the counter checking every page.
    busy.console.type("dirty 16 20 &\n");
    await busy.console.waitFor("dirty: 16 MiB", 30_000);
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

  it("moves the VM running dirty 16 20 back and forth; the counter's checks stay ok", async () => {
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

  it("rolls back when the stream is cut (at several byte offsets)", async () => {
    const vm = idle;
    for (const limit of [200, 150_000, 2_500_000, 9_000_000]) {
      let proxy: Awaited<ReturnType<typeof cuttingProxy>> | undefined;
      const h = await begin(vm, {
        via: async (addr) => {
          proxy = await cuttingProxy(addr, limit);
          return proxy.address;
        },
      });
      await rolledBack(vm, h);
      console.log(`stream cut after ${proxy!.passed()} bytes: rolled back`);
      proxy!.server.close();
    }
    const sum = counterLines(vm.console.text).at(-1)!.sum;
    await counterStillRuns(vm);
    expect(counterLines(vm.console.text).at(-1)!.sum).toBe(sum);
  }, 180_000);

  it("rolls back when the destination agent is killed mid-stream", async () => {
    const vm = busy;
    const dst = other(vm.on);
    const port = agents[dst]!.port;
    const h = await begin(vm, { options: slow });
    await new Promise((r) => setTimeout(r, 1500));
    await agents[dst]!.stop("SIGKILL");
    await expectRolledBack(vm, h);
    await up(dst, port);
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
    await up(src, port);
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

/** Slow enough (bandwidth cap) to kill something mid-stream. */
const slow = {
  bandwidthBytesPerSec: 3_000_000,
  maxDowntimeMs: 0,
  maxRounds: 0,
  timeoutMs: 0,
  disableAutoConverge: false,
  compression: 1,
};

async function expectRolledBack(vm: Vm, h: MigrateCall) {
  const result = await h.done;
  expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK);
  const src = await call(cl(vm.on), "getVm", { vmId: vm.id });
  expect(src.vm?.state).toBe(VmState.VM_STATE_RUNNING);
  expect(src.vm?.ref?.epoch).toBe(vm.epoch);
  return result;
}
