/**
 * Two real agent processes on 127.0.0.1 and Linux guests migrated between them, for the live
 * migration tests: boot, hop (and check that exactly one copy runs), the guest's `counter` checks,
 * a TCP proxy that cuts the stream, and the checks that follow a rollback.
 */
import { existsSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { MigrationOutcome, type VmSpec } from "@skiff/proto";
import { expect } from "vitest";
import {
  type AgentProcess,
  agentClient,
  ConsoleViewer,
  call,
  isAlive,
  killVmms,
  linuxVm,
  makeTempDir,
  startAgent,
  VmState,
  vmmPid,
  waitUntil,
} from "./harness.js";
import { type MigrateCall, startHop } from "./migration-rpcs.js";

export const PROMPT = "skiff# ";
export type Side = "a" | "b";
export const other = (w: Side): Side => (w === "a" ? "b" : "a");

export interface Vm {
  id: string;
  epoch: number;
  on: Side;
  spec: VmSpec;
  console: ConsoleViewer;
}

type HopOptions = Parameters<typeof startHop>[0]["options"];

/** Slow enough (bandwidth cap) to kill something mid-stream. */
export const slow = {
  bandwidthBytesPerSec: 3_000_000,
  maxDowntimeMs: 0,
  maxRounds: 0,
  timeoutMs: 0,
  disableAutoConverge: false,
  compression: 1,
};

const COUNTER = /counter (\d+) ([0-9a-f]{8}) (\d+):(\d+) (ok|bad=\d+)/g;
export function counterLines(text: string) {
  return [...text.matchAll(COUNTER)].map((m) => ({ n: Number(m[1]), sum: m[2]!, status: m[5]! }));
}

export class MigrationPair {
  private readonly tmp: ReturnType<typeof makeTempDir>;
  readonly dirs: Record<Side, string>;
  readonly agents: Record<Side, AgentProcess | undefined> = { a: undefined, b: undefined };
  private readonly clients: Record<Side, ReturnType<typeof agentClient> | undefined> = {
    a: undefined,
    b: undefined,
  };
  private hopNo = 0;

  /** `prefix` names the temp dir and the migration ids. */
  constructor(private readonly prefix: string) {
    this.tmp = makeTempDir(`skiff-${prefix}`);
    this.dirs = { a: join(this.tmp.path, "a"), b: join(this.tmp.path, "b") };
  }

  async start(): Promise<void> {
    await Promise.all([this.up("a"), this.up("b")]);
  }

  async stop(): Promise<void> {
    for (const w of ["a", "b"] as const) {
      this.clients[w]?.close();
      await this.agents[w]?.stop();
      killVmms(this.dirs[w]);
    }
    this.tmp.remove();
  }

  /** (Re)starts an agent on its data dir, on the same port when given. */
  async up(which: Side, port?: number): Promise<void> {
    this.agents[which] = await startAgent({ dataDir: this.dirs[which], ...(port ? { port } : {}) });
    this.clients[which]?.close();
    this.clients[which] = agentClient(this.agents[which].port);
  }

  cl(w: Side) {
    return this.clients[w]!;
  }

  async boot(id: string, memoryMib: number): Promise<Vm> {
    const req = linuxVm(id, memoryMib);
    await call(this.cl("a"), "createVm", req);
    const console = new ConsoleViewer(this.cl("a"), id, 1);
    await console.waitFor(PROMPT, 240_000);
    return { id, epoch: 1, on: "a", spec: req.spec!, console };
  }

  async begin(vm: Vm, opts: { via?: (a: string) => string | Promise<string>; options?: HopOptions } = {}) {
    const to = other(vm.on);
    const migrationId = `${this.prefix}${++this.hopNo}`;
    const h = await startHop({
      from: this.cl(vm.on),
      to: this.cl(to),
      toAgentAddress: `127.0.0.1:${this.agents[to]!.port}`,
      vmId: vm.id,
      epoch: vm.epoch,
      spec: vm.spec,
      migrationId,
      ...opts,
    });
    return { ...h, migrationId };
  }

  /** One committed hop: the VM runs on the other agent at epoch + 1, the source holds nothing. */
  async hop(vm: Vm): Promise<{
    downtimeMs: number;
    rounds: number;
    totalMs: number;
    /** What round 0 sent (every non-zero page): the stream is at least this long. */
    round0Bytes: number;
    last: { n: number; sum: string } | undefined;
  }> {
    const from = vm.on;
    const srcPid = vmmPid(this.agents[from]!.dataDir, vm.id);
    const h = await this.begin(vm);
    const result = await h.done;
    expect(result.errorMessage).toBe("");
    expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_COMMITTED);
    const last = await this.movedOn(vm, srcPid);
    const s = result.stats!;
    return {
      downtimeMs: s.downtimeMs,
      rounds: s.rounds.length,
      totalMs: s.totalMs,
      round0Bytes: s.rounds[0]?.bytes ?? 0,
      last,
    };
  }

  /**
   * After a commit: the destination runs the VM at epoch + 1 and fences the old one; the source's
   * VMM, data and record are gone. Moves `vm` over and returns the last counter line printed on
   * the source.
   */
  async movedOn(vm: Vm, srcPid: number) {
    const from = vm.on;
    const to = other(from);
    // The source's console ends when its VMM exits: then it holds every line printed there.
    await waitUntil("source console ends", () => vm.console.ended, { timeoutMs: 15_000 });
    const lines = counterLines(vm.console.text);
    const bad = lines.findIndex((l) => l.status !== "ok");
    if (bad >= 0) {
      const at = vm.console.text.indexOf(`counter ${lines[bad]!.n} `);
      console.log(
        `--- ${vm.id}: first bad line before the hop:\n${vm.console.text.slice(Math.max(0, at - 1500), at + 300)}`,
      );
    }
    vm.epoch++;
    vm.on = to;
    const got = await call(this.cl(to), "getVm", { vmId: vm.id });
    expect(got.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(got.vm?.ref?.epoch).toBe(vm.epoch);
    await expect(call(this.cl(from), "getVm", { vmId: vm.id })).rejects.toMatchObject({
      details: expect.stringMatching(/^VM_NOT_FOUND/),
    });
    if (srcPid > 0) await waitUntil("source VMM gone", () => !isAlive(srcPid), { timeoutMs: 10_000 });
    expect(existsSync(join(this.agents[from]!.dataDir, "vms", vm.id))).toBe(false);
    // The old epoch is fenced on the new node.
    await expect(
      call(this.cl(to), "pauseVm", { ref: { vmId: vm.id, epoch: vm.epoch - 1 } }),
    ).rejects.toMatchObject({ details: expect.stringMatching(/^STALE_EPOCH/) });
    // With replay: everything the guest printed on the new node since it resumed.
    const text = vm.console.text;
    vm.console = new ConsoleViewer(this.cl(to), vm.id, vm.epoch, {
      carry: text.slice(text.lastIndexOf("\n") + 1),
    });
    return lines.at(-1);
  }

  /** After a failed migration: rolled back, the source runs the VM at its epoch, the destination holds nothing. */
  async rolledBack(vm: Vm, h: MigrateCall) {
    const result = await h.done;
    expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_ROLLED_BACK);
    const src = await call(this.cl(vm.on), "getVm", { vmId: vm.id });
    expect(src.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(src.vm?.ref?.epoch).toBe(vm.epoch);
    await this.destinationEmpty(vm);
    return result;
  }

  async destinationEmpty(vm: Vm): Promise<void> {
    const dst = other(vm.on);
    await waitUntil(
      "destination discarded",
      () => !existsSync(join(this.agents[dst]!.dataDir, "vms", vm.id)),
      { timeoutMs: 15_000 },
    );
    await expect(call(this.cl(dst), "getVm", { vmId: vm.id })).rejects.toMatchObject({
      details: expect.stringMatching(/^VM_NOT_FOUND/),
    });
  }
}

/** Waits for `n` fresh counter lines on the VM's console and checks them. */
export async function counterGoesOn(vm: Vm, after: number, n = 3) {
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
export async function counterStillRuns(vm: Vm) {
  const mark = vm.console.text.length;
  await waitUntil("counter goes on", () => counterLines(vm.console.text.slice(mark)).length >= 3, {
    timeoutMs: 30_000,
  });
  const all = counterLines(vm.console.text);
  for (let i = 1; i < all.length; i++) expect(all[i]!.n).toBe(all[i - 1]!.n + 1);
  for (const l of all) expect(l.status).toBe("ok");
}

/**
 * A TCP proxy that passes the first `limit` bytes source->destination, then cuts both ways
 * (Infinity: passes everything, counting). Exactly `limit` bytes arrive (the way on is ended after
 * them, not destroyed with writes pending); nothing more comes back to the source. `cut()` cuts at
 * once, wherever the stream is (a test that waits for a phase, then cuts).
 */
export function cuttingProxy(
  target: string,
  limit: number,
): Promise<{ address: string; server: Server; passed: () => number; cut: () => void }> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  let passed = 0;
  const sockets = new Set<Socket>();
  const cut = () => {
    limit = passed;
    for (const s of sockets) s.destroy();
  };
  const server = createServer((inbound) => {
    const outbound = connect(port, host);
    sockets.add(inbound).add(outbound);
    inbound.on("data", (chunk: Buffer) => {
      const room = limit - passed;
      if (room <= 0) return;
      passed += Math.min(room, chunk.length);
      if (passed < limit) {
        outbound.write(chunk);
        return;
      }
      outbound.end(chunk.subarray(0, room));
      inbound.destroy();
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
        cut,
      });
    }),
  );
}
