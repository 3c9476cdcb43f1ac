/**
 * The agent end to end with real processes on 127.0.0.1: an agent, one VMM process per VM, the
 * hv-core Machine running a firmware-mode echo guest (src/testing/echo-firmware.ts).
 */
import { existsSync } from "node:fs";
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
} from "./testing/harness.js";

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

  it("holds a runaway guest to its CPU share and a VMM over its memory cap is stopped", async () => {
    await call(
      client,
      "createVm",
      firmwareVm(tmp.path, "runaway", 1, true, { firmware: "spin", cpuMillis: 250 }),
    );
    await call(client, "createVm", firmwareVm(tmp.path, "free", 1, true, { firmware: "spin" }));
    await new Promise((r) => setTimeout(r, 4500));
    const share = async (id: string) => (await call(client, "getVm", { vmId: id })).vm?.cpuShare ?? -1;
    const capped = await share("runaway");
    const uncapped = await share("free");
    console.log(
      `spinning guest: capped at 250 millicores uses ${capped.toFixed(2)}, uncapped ${uncapped.toFixed(2)}`,
    );
    expect(capped).toBeGreaterThan(0.1);
    expect(capped).toBeLessThan(0.35);
    expect(uncapped).toBeGreaterThan(0.5);
    await call(client, "destroyVm", { ref: { vmId: "free", epoch: 1 } });
    await call(client, "destroyVm", { ref: { vmId: "runaway", epoch: 1 } });

    // 1 MiB allowed above guest RAM: the VMM's own footprint alone is over it.
    await call(client, "createVm", firmwareVm(tmp.path, "hungry", 1, true, { vmmOverheadMib: 1 }));
    await waitUntil("over the cap", async () => (await state("hungry")) === VmState.VM_STATE_CRASHED, {
      timeoutMs: 10_000,
    });
    expect((await call(client, "getVm", { vmId: "hungry" })).vm?.lastExit).toMatch(/^fatal: out of memory/);
    await call(client, "destroyVm", { ref: { vmId: "hungry", epoch: 1 } });
  });
});
