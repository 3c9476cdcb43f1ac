/**
 * The agent end to end with real processes on 127.0.0.1: an agent, one VMM process per VM, the
 * hv-core Machine running a firmware-mode echo guest (src/test-support/echo-firmware.ts), and guests
 * that load their host beside it (src/test-support/load-guests.ts): a runaway writer, a console flood,
 * a guest making all its RAM resident.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type ServiceError, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentProcess,
  agentClient,
  auth,
  ConsoleViewer,
  call,
  firmwareVm,
  isAlive,
  killVmms,
  makeTempDir,
  startAgent,
  VmState,
  vmmPid,
  waitUntil,
} from "./test-support/harness.js";
import { CpuWindow, floodFirmware, hogFirmware, loadVm, writerFirmware } from "./test-support/load-guests.js";
import { rssOf } from "./vmm/process.js";

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tmp = makeTempDir("skiff-agent-");
let agent: AgentProcess;
let client: ReturnType<typeof agentClient>;

beforeAll(async () => {
  agent = await startAgent({ dataDir: join(tmp.path, "data") });
  client = agentClient(agent.port);
});

afterAll(async () => {
  client?.close();
  await agent?.stop();
  killVmms(join(tmp.path, "data"));
  tmp.remove();
});

async function state(vmId: string): Promise<VmState> {
  return (await call(client, "getVm", { vmId })).vm?.state ?? VmState.VM_STATE_UNSPECIFIED;
}

async function refused(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("expected the call to be refused");
}

describe("node agent with firmware guests", () => {
  it("refuses callers without the agent token", async () => {
    const err = await refused(call(client, "listVms", {}, auth("wrong")));
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.metadata.get("skiff-error-code")).toEqual(["UNAUTHENTICATED"]);
  });

  it("runs the lifecycle of several VMs at once, each in its own VMM process", async () => {
    const ids = ["life-a", "life-b", "life-c"];
    const created = await Promise.all(ids.map((id) => call(client, "createVm", firmwareVm(tmp.path, id))));
    for (const c of created) expect(c.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    const pids = created.map((c) => c.vm?.vmmPid ?? 0);
    expect(new Set(pids).size).toBe(3);
    expect(pids.every((p) => p > 0 && p !== agent.proc.child.pid)).toBe(true);
    // Each VMM's scheduling group yields to the agent (SKIFF_VMM_NICE, 5 by default), where the
    // kernel groups by session.
    for (const pid of pids) {
      const group = existsSync(`/proc/${pid}/autogroup`)
        ? readFileSync(`/proc/${pid}/autogroup`, "utf8")
        : "";
      if (group) expect(group).toMatch(/ nice 5\n?$/);
    }

    const viewers = ids.map((id) => new ConsoleViewer(client, id, 1));
    await Promise.all(viewers.map((v) => v.waitFor("fw ready")));
    for (const [i, v] of viewers.entries()) v.type(`hi${i}`);
    await Promise.all(viewers.map((v, i) => v.waitFor(`hi${i}`)));

    // Pause: the vCPU stops, so typed bytes wait in the UART until resume.
    const paused = await call(client, "pauseVm", { ref: { vmId: "life-a", epoch: 1 } });
    expect(paused.vm?.state).toBe(VmState.VM_STATE_PAUSED);
    viewers[0]!.type("Z");
    await new Promise((r) => setTimeout(r, 300));
    expect(viewers[0]!.text).not.toContain("Z");
    await call(client, "resumeVm", { ref: { vmId: "life-a", epoch: 1 } });
    await viewers[0]!.waitFor("hi0Z");

    // Illegal transitions are errors with a code, not silent state changes.
    const err = await refused(call(client, "resumeVm", { ref: { vmId: "life-b", epoch: 1 } }));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/^INVALID_TRANSITION/);

    // Reboot: the guest starts again in the same VMM.
    const rebooted = await call(client, "rebootVm", { ref: { vmId: "life-b", epoch: 1 } });
    expect(rebooted.vm?.vmmPid).toBe(pids[1]);
    await waitUntil("second banner", () => viewers[1]!.text.split("fw ready").length === 3);

    // Stop: this firmware ignores SysRq, so the graceful phase times out and the VMM is killed.
    const stopped = await call(client, "stopVm", {
      ref: { vmId: "life-c", epoch: 1 },
      force: false,
      timeoutMs: 800,
    });
    expect(stopped.graceful).toBe(false);
    expect(stopped.vm?.state).toBe(VmState.VM_STATE_STOPPED);
    expect(isAlive(pids[2]!)).toBe(false);
    await waitUntil("console stream ends", () => viewers[2]!.ended);
    expect(viewers[2]!.states).toContain(VmState.VM_STATE_STOPPED);

    // A stopped VM boots again in a new VMM.
    const again = await call(client, "startVm", { ref: { vmId: "life-c", epoch: 1 } });
    expect(again.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(again.vm?.vmmPid).not.toBe(pids[2]);

    const list = await call(client, "listVms", {});
    expect(list.vms.map((v) => v.ref?.vmId).sort()).toEqual(ids);

    for (const id of ids) await call(client, "destroyVm", { ref: { vmId: id, epoch: 1 } });
    expect((await call(client, "listVms", {})).vms).toHaveLength(0);
    for (const p of [pids[0]!, pids[1]!, again.vm!.vmmPid]) expect(isAlive(p)).toBe(false);
    expect(existsSync(join(agent.dataDir, "vms", "life-a"))).toBe(false);
    for (const v of viewers) v.close();
  });

  it("streams one console to several viewers and replays the recent screen to a late one", async () => {
    await call(client, "createVm", firmwareVm(tmp.path, "console"));
    const first = new ConsoleViewer(client, "console", 1);
    const second = new ConsoleViewer(client, "console", 1);
    await first.waitFor("fw ready");
    first.type("abc");
    await Promise.all([first.waitFor("abc"), second.waitFor("abc")]);
    second.type("?");
    await Promise.all([first.waitFor("00000004"), second.waitFor("00000004")]);
    const late = new ConsoleViewer(client, "console", 1);
    await late.waitFor("00000004");
    expect(late.replay).toContain("fw ready\nabc00000004");
    // Without replay a viewer sees only what comes after it attached.
    const fresh = new ConsoleViewer(client, "console", 1, { skipReplay: true });
    await new Promise((r) => setTimeout(r, 200));
    late.type("x");
    await fresh.waitFor("x");
    expect(fresh.text).toBe("x");
    for (const v of [first, second, late, fresh]) v.close();
    await call(client, "destroyVm", { ref: { vmId: "console", epoch: 1 } });
  });

  it("reports a guest that powers itself off as stopped", async () => {
    await call(client, "createVm", firmwareVm(tmp.path, "poweroff"));
    const v = new ConsoleViewer(client, "poweroff", 1);
    await v.waitFor("fw ready");
    v.type("q");
    await waitUntil("stopped", async () => (await state("poweroff")) === VmState.VM_STATE_STOPPED);
    const info = (await call(client, "getVm", { vmId: "poweroff" })).vm;
    expect(info?.lastExit).toMatch(/^poweroff/);
    await waitUntil("console ends", () => v.ended);
    await call(client, "destroyVm", { ref: { vmId: "poweroff", epoch: 1 } });
  });

  it("refuses commands with a stale epoch and adopts a newer one", async () => {
    await call(client, "createVm", firmwareVm(tmp.path, "fenced", 5));
    const stale = await refused(call(client, "pauseVm", { ref: { vmId: "fenced", epoch: 4 } }));
    expect(stale.code).toBe(status.FAILED_PRECONDITION);
    expect(stale.details).toMatch(/^STALE_EPOCH/);
    expect(stale.metadata.get("skiff-error-code")).toEqual(["STALE_EPOCH"]);
    expect(await state("fenced")).toBe(VmState.VM_STATE_RUNNING);

    const newer = await call(client, "pauseVm", { ref: { vmId: "fenced", epoch: 6 } });
    expect(newer.vm?.ref?.epoch).toBe(6);
    const nowStale = await refused(call(client, "resumeVm", { ref: { vmId: "fenced", epoch: 5 } }));
    expect(nowStale.details).toMatch(/^STALE_EPOCH/);
    // The console is fenced too.
    const v = new ConsoleViewer(client, "fenced", 5);
    await waitUntil("console refused", () => v.ended);
    expect(v.error?.code).toBe(status.FAILED_PRECONDITION);
    // CreateVm again with the same epoch is idempotent; an older one is stale.
    expect((await call(client, "createVm", firmwareVm(tmp.path, "fenced", 6))).vm?.state).toBe(
      VmState.VM_STATE_PAUSED,
    );
    await refused(call(client, "createVm", firmwareVm(tmp.path, "fenced", 3)));
    await call(client, "destroyVm", { ref: { vmId: "fenced", epoch: 6 } });
  });

  it("suspends to disk (VMM exits, RAM freed) and resumes where the guest was", async () => {
    await call(client, "createVm", firmwareVm(tmp.path, "sleepy"));
    const v = new ConsoleViewer(client, "sleepy", 1);
    await v.waitFor("fw ready");
    v.type("abc?");
    await v.waitFor("00000004");
    const pid = vmmPid(agent.dataDir, "sleepy");
    const s = await call(client, "suspendVm", { ref: { vmId: "sleepy", epoch: 1 } });
    expect(s.vm?.state).toBe(VmState.VM_STATE_SUSPENDED);
    expect(s.snapshotBytes).toBeGreaterThan(0);
    expect(s.vm?.vmmPid).toBe(0);
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(agent.dataDir, "vms", "sleepy", "snapshot.skiffsnap"))).toBe(true);

    const r = await call(client, "resumeSuspendedVm", { ref: { vmId: "sleepy", epoch: 1 } });
    expect(r.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    // It restored in a group at the agent's priority; running, its group yields like any VMM's.
    const resumed = r.vm?.vmmPid ?? 0;
    if (existsSync(`/proc/${resumed}/autogroup`)) {
      expect(readFileSync(`/proc/${resumed}/autogroup`, "utf8")).toMatch(/ nice 5\n?$/);
    }
    const after = new ConsoleViewer(client, "sleepy", 1, { skipReplay: true });
    await new Promise((res) => setTimeout(res, 200));
    after.type("d?");
    // The count lives in a CPU register: 4 before the suspend, 6 after two more bytes.
    await after.waitFor("d00000006");
    v.close();
    after.close();
    await call(client, "destroyVm", { ref: { vmId: "sleepy", epoch: 1 } });
  });

  it("reports a VMM killed under it as crashed and does not restart it", async () => {
    await call(client, "createVm", firmwareVm(tmp.path, "victim"));
    const pid = vmmPid(agent.dataDir, "victim");
    process.kill(pid, "SIGKILL");
    await waitUntil("crashed", async () => (await state("victim")) === VmState.VM_STATE_CRASHED);
    const info = (await call(client, "getVm", { vmId: "victim" })).vm;
    expect(info?.lastExit).toBe("vmm-died");
    expect(info?.vmmPid).toBe(0);
    // The control plane decides: here it starts it again.
    const again = await call(client, "startVm", { ref: { vmId: "victim", epoch: 1 } });
    expect(again.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    await call(client, "destroyVm", { ref: { vmId: "victim", epoch: 1 } });
  });

  it("reports node capacity, usage and per-VM figures", async () => {
    await call(client, "createVm", firmwareVm(tmp.path, "stats"));
    await new Promise((r) => setTimeout(r, 2500));
    const s = await call(client, "nodeStats", {});
    expect(s.nodeName).toBe("test-node");
    expect(s.cpus).toBeGreaterThan(0);
    expect(s.memoryBytes).toBeGreaterThan(s.vmMemoryBytes);
    expect(s.vmCount).toBe(1);
    expect(s.vmMemoryBytes).toBe(1 << 20);
    const vm = s.vms[0]!;
    expect(vm.vmId).toBe("stats");
    expect(vm.vmmRssBytes).toBeGreaterThan(1 << 20);
    // An idle guest (WFI) costs next to no CPU.
    expect(vm.cpuShare).toBeLessThan(0.05);
    await call(client, "destroyVm", { ref: { vmId: "stats", epoch: 1 } });
  });

  it("holds a runaway guest to its CPU cap while its neighbour answers; NodeStats shows each one's CPU share and dirty pages", async () => {
    await call(client, "createVm", loadVm(tmp.path, "runaway", writerFirmware(1 << 20), { cpuMillis: 250 }));
    await call(client, "createVm", firmwareVm(tmp.path, "quiet"));
    const runaway = new ConsoleViewer(client, "runaway", 1);
    const quiet = new ConsoleViewer(client, "quiet", 1);
    await Promise.all([runaway.waitFor("writer"), quiet.waitFor("fw ready")]);
    const pid = { runaway: vmmPid(agent.dataDir, "runaway"), quiet: vmmPid(agent.dataDir, "quiet") };
    // Past the first usage samples (boot; the ELF load dirties pages), then 4 s of /proc: long
    // enough that 10 ms ticks and a noisy host average out.
    await sleep(2500);
    const window = new CpuWindow([pid.runaway, pid.quiet]);
    const echoMs: number[] = [];
    for (let i = 0; window.seconds() < 4; i++) {
      const t = performance.now();
      quiet.type(`<${i}>`);
      await quiet.waitFor(`<${i}>`);
      echoMs.push(performance.now() - t);
      await sleep(200);
    }
    const cpu = window.shares();
    const stats = await call(client, "nodeStats", {});
    const usage = Object.fromEntries(stats.vms.map((v) => [v.vmId, v]));
    console.log(
      `runaway capped at 250 millicores: /proc ${cpu.get(pid.runaway)!.toFixed(3)}, NodeStats ` +
        `${usage.runaway!.cpuShare.toFixed(3)}, ${usage.runaway!.dirtyPagesPerSec.toFixed(0)} dirty pages/s; ` +
        `neighbour /proc ${cpu.get(pid.quiet)!.toFixed(3)}, NodeStats ${usage.quiet!.cpuShare.toFixed(3)}, ` +
        `${usage.quiet!.dirtyPagesPerSec.toFixed(1)} dirty pages/s, echo ${Math.round(Math.max(...echoMs))} ms at worst`,
    );
    // The cap is a ceiling on the whole VMM. A busy host can give it less (VMMs are niced), so the
    // lower bound only says it runs.
    expect(cpu.get(pid.runaway)!).toBeLessThanOrEqual(0.3);
    expect(cpu.get(pid.runaway)!).toBeGreaterThan(0.1);
    expect(cpu.get(pid.quiet)!).toBeLessThan(0.05);
    // NodeStats reports what the VMMs use: the same figure as /proc, over its own shorter window.
    expect(Math.abs(usage.runaway!.cpuShare - cpu.get(pid.runaway)!)).toBeLessThan(0.1);
    expect(usage.quiet!.cpuShare).toBeLessThan(0.05);
    // The writer stores into 240 pages a round, many rounds per 2 s sample; the neighbour none.
    expect(usage.runaway!.dirtyPagesPerSec).toBeGreaterThan(50);
    expect(usage.quiet!.dirtyPagesPerSec).toBeLessThan(1);

    // The runaway's VMM killed: the neighbour never notices.
    process.kill(pid.runaway, "SIGKILL");
    await waitUntil("runaway crashed", async () => (await state("runaway")) === VmState.VM_STATE_CRASHED);
    quiet.type("still-here");
    await quiet.waitFor("still-here");
    expect(isAlive(pid.quiet)).toBe(true);
    for (const v of [runaway, quiet]) v.close();
    for (const id of ["runaway", "quiet"]) await call(client, "destroyVm", { ref: { vmId: id, epoch: 1 } });
  });

  it("paces a guest that floods its console: its VMM stays small and within its CPU cap, the log bounded, the neighbour answers", async () => {
    await call(client, "createVm", loadVm(tmp.path, "flood", floodFirmware(1 << 20), { cpuMillis: 250 }));
    await call(client, "createVm", firmwareVm(tmp.path, "calm"));
    const flood = new ConsoleViewer(client, "flood", 1);
    const calm = new ConsoleViewer(client, "calm", 1);
    // The banner is long gone from the 64 KiB replay by the time the viewer attaches.
    await waitUntil("the replay", () => flood.text.length > 0);
    await calm.waitFor("fw ready");
    const pid = vmmPid(agent.dataDir, "flood");
    await sleep(1000);
    const window = new CpuWindow([pid]);
    const received = flood.text.length;
    let maxRss = 0;
    for (let i = 0; window.seconds() < 5; i++) {
      maxRss = Math.max(maxRss, rssOf(pid));
      calm.type(`<${i}>`);
      await calm.waitFor(`<${i}>`);
      await sleep(200);
    }
    const seconds = window.seconds();
    // Unpaced, this guest took its VMM to 300-470 MiB (ended by the memory cap within 2 s) and
    // up to a whole core under a 250 millicore cap, with console.log chunks of 60 MiB.
    const info = (await call(client, "getVm", { vmId: "flood" })).vm;
    expect(info?.state, `flood VMM: ${info?.lastExit}, RSS up to ${maxRss >> 20} MiB`).toBe(
      VmState.VM_STATE_RUNNING,
    );
    const cpu = window.shares().get(pid)!;
    // The flood is NUL bytes (its RAM's data pages): one character each in the viewer's text.
    const rate = (flood.text.length - received) / seconds;
    const calmRss = rssOf(vmmPid(agent.dataDir, "calm"));
    const logBytes = statSync(join(agent.dataDir, "vms", "flood", "console.log")).size;
    console.log(
      `console flood: ${(rate / MiB).toFixed(2)} MiB/s to a viewer, VMM ${cpu.toFixed(3)} of a core, ` +
        `RSS ${(maxRss / MiB).toFixed(0)} MiB at most (neighbour ${(calmRss / MiB).toFixed(0)} MiB), ` +
        `console.log ${(logBytes / MiB).toFixed(1)} MiB`,
    );
    expect(maxRss).toBeLessThan(calmRss + 64 * MiB);
    expect(cpu).toBeLessThanOrEqual(0.3);
    expect(rate).toBeLessThan(1.5 * MiB);
    expect(rate).toBeGreaterThan(0.25 * MiB);
    expect(logBytes).toBeLessThanOrEqual(4 * MiB);
    expect(flood.ended).toBe(false);
    expect((await call(client, "listVms", {})).vms.map((v) => v.state)).toEqual([
      VmState.VM_STATE_RUNNING,
      VmState.VM_STATE_RUNNING,
    ]);
    for (const v of [flood, calm]) v.close();
    for (const id of ["flood", "calm"]) await call(client, "destroyVm", { ref: { vmId: id, epoch: 1 } });
  });

  it("ends a VMM whose guest's resident RAM takes it over its memory cap; its neighbours and the agent carry on", async () => {
    const mem = 128 * MiB;
    // 16 MiB above guest RAM is less than the VMM's own footprint: the VMM fits while its guest
    // leaves the RAM untouched, and is over once the guest has made all of it resident.
    await call(
      client,
      "createVm",
      loadVm(tmp.path, "hog-tight", hogFirmware(mem), { memoryBytes: mem, vmmOverheadMib: 16 }),
    );
    // With the default allowance a guest using all of its RAM is within the cap.
    await call(client, "createVm", loadVm(tmp.path, "hog-roomy", hogFirmware(mem), { memoryBytes: mem }));
    await call(client, "createVm", firmwareVm(tmp.path, "bystander"));
    const tight = new ConsoleViewer(client, "hog-tight", 1);
    const roomy = new ConsoleViewer(client, "hog-roomy", 1);
    const bystander = new ConsoleViewer(client, "bystander", 1);
    await Promise.all([
      tight.waitFor("hog ready"),
      roomy.waitFor("hog ready"),
      bystander.waitFor("fw ready"),
    ]);
    const pid = { tight: vmmPid(agent.dataDir, "hog-tight"), roomy: vmmPid(agent.dataDir, "hog-roomy") };
    // A memory sample (every 2 s) has seen the untouched guest: within its cap.
    await sleep(2500);
    const idleRss = rssOf(pid.tight);
    expect(await state("hog-tight")).toBe(VmState.VM_STATE_RUNNING);
    expect(idleRss).toBeLessThan(mem + 16 * MiB);

    tight.type("g");
    roomy.type("g");
    await roomy.waitFor("touched");
    // The tight one may be ended before its last output reaches the viewer.
    await waitUntil("hog-tight touched its RAM", () => tight.text.includes("touched") || tight.ended);
    await waitUntil("hog-tight ended", async () => (await state("hog-tight")) === VmState.VM_STATE_CRASHED, {
      timeoutMs: 10_000,
    });
    const info = (await call(client, "getVm", { vmId: "hog-tight" })).vm;
    console.log(`hog-tight: RSS ${(idleRss / MiB).toFixed(0)} MiB untouched; ${info?.lastExit}`);
    expect(info?.lastExit).toMatch(/^fatal: out of memory/);
    await waitUntil("hog-tight's VMM gone", () => !isAlive(pid.tight));

    bystander.type("still-here");
    await bystander.waitFor("still-here");
    // All of the roomy guest's RAM is resident, and a memory sample after that let it be.
    expect(rssOf(pid.roomy)).toBeGreaterThan(mem);
    await sleep(2500);
    expect(await state("hog-roomy")).toBe(VmState.VM_STATE_RUNNING);
    roomy.type("ok");
    await roomy.waitFor("touched\nok");
    const stats = await call(client, "nodeStats", {});
    const ours = stats.vms.filter((v) => ["bystander", "hog-roomy", "hog-tight"].includes(v.vmId));
    expect(ours.map((v) => [v.vmId, v.state]).sort()).toEqual([
      ["bystander", VmState.VM_STATE_RUNNING],
      ["hog-roomy", VmState.VM_STATE_RUNNING],
      ["hog-tight", VmState.VM_STATE_CRASHED],
    ]);
    for (const v of [tight, roomy, bystander]) v.close();
    for (const id of ["hog-tight", "hog-roomy", "bystander"]) {
      await call(client, "destroyVm", { ref: { vmId: id, epoch: 1 } });
    }
  });
});
