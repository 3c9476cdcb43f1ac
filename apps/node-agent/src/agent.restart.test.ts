/**
 * The agent dies or restarts while its VMs run: the VMMs (detached processes) carry on, and the
 * next agent reattaches to them through their sockets, reporting those that died meanwhile.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type AgentProcess,
  agentClient,
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

const VMM_MAIN = join(import.meta.dirname, "..", "dist", "vmm", "main.js");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ dir: string; dataDir: string; agent: AgentProcess }> {
  const tmp = makeTempDir("skiff-agent-");
  const dataDir = join(tmp.path, "data");
  cleanups.push(() => {
    killVmms(dataDir);
    tmp.remove();
  });
  const agent = await startAgent({ dataDir });
  cleanups.push(() => agent.stop("SIGKILL"));
  return { dir: tmp.path, dataDir, agent };
}

describe("agent restarts", () => {
  it("kill -9 of the agent leaves VMs running; the next agent manages them again", async () => {
    const { dir, dataDir, agent } = await setup();
    let client = agentClient(agent.port);
    for (const id of ["keep-a", "keep-b", "doomed"]) await call(client, "createVm", firmwareVm(dir, id));
    const v = new ConsoleViewer(client, "keep-a", 1);
    await v.waitFor("fw ready");
    v.type("abc");
    await v.waitFor("abc");
    const pids = Object.fromEntries(["keep-a", "keep-b", "doomed"].map((id) => [id, vmmPid(dataDir, id)]));
    client.close();

    await agent.stop("SIGKILL");
    await waitUntil("console cut with the agent", () => v.ended);
    // The VMMs outlive the agent; one of them dies while no agent watches.
    expect(Object.values(pids).every(isAlive)).toBe(true);
    process.kill(pids.doomed!, "SIGKILL");
    await waitUntil("doomed VMM gone", () => !isAlive(pids.doomed!));

    const again = await startAgent({ dataDir, port: agent.port });
    cleanups.push(() => again.stop("SIGKILL"));
    client = agentClient(again.port);
    cleanups.push(() => client.close());
    const list = await call(client, "listVms", {});
    const byId = Object.fromEntries(list.vms.map((x) => [x.ref?.vmId, x]));
    expect(byId["keep-a"]?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(byId["keep-a"]?.vmmPid).toBe(pids["keep-a"]);
    expect(byId["keep-b"]?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(byId.doomed?.state).toBe(VmState.VM_STATE_CRASHED);
    expect(byId.doomed?.lastExit).toBe("vmm-died while the agent was away");

    // Managed again: the console replays the screen kept by the VMM, the guest still counts.
    const v2 = new ConsoleViewer(client, "keep-a", 1);
    await v2.waitFor("fw ready\nabc");
    v2.type("?");
    await v2.waitFor("abc00000004");
    const paused = await call(client, "pauseVm", { ref: { vmId: "keep-b", epoch: 1 } });
    expect(paused.vm?.state).toBe(VmState.VM_STATE_PAUSED);
    // A VMM killed under the new agent is noticed through its socket, as with the first agent.
    process.kill(pids["keep-b"]!, "SIGKILL");
    await waitUntil(
      "keep-b crashed",
      async () => (await call(client, "getVm", { vmId: "keep-b" })).vm?.state === VmState.VM_STATE_CRASHED,
    );
    v2.close();
  });

  it("SIGTERM: the agent exits cleanly, leaves VMs running, and the next one reattaches", async () => {
    const { dir, dataDir, agent } = await setup();
    const client = agentClient(agent.port);
    await call(client, "createVm", firmwareVm(dir, "survivor"));
    await call(client, "pauseVm", { ref: { vmId: "survivor", epoch: 1 } });
    client.close();
    const pid = vmmPid(dataDir, "survivor");
    const exited = new Promise<number | null>((r) => agent.proc.child.once("exit", (code) => r(code)));
    agent.proc.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(isAlive(pid)).toBe(true);

    const again = await startAgent({ dataDir });
    cleanups.push(() => again.stop("SIGKILL"));
    const c2 = agentClient(again.port);
    cleanups.push(() => c2.close());
    const vm = (await call(c2, "getVm", { vmId: "survivor" })).vm;
    expect(vm?.state).toBe(VmState.VM_STATE_PAUSED);
    expect(vm?.vmmPid).toBe(pid);
    await call(c2, "resumeVm", { ref: { vmId: "survivor", epoch: 1 } });
    const v = new ConsoleViewer(c2, "survivor", 1);
    v.type("x?");
    await v.waitFor("x00000002");
    v.close();
    await call(c2, "destroyVm", { ref: { vmId: "survivor", epoch: 1 } });
    expect(isAlive(pid)).toBe(false);
  });

  it("adopts a VMM that came up while no agent was watching (agent died mid-StartVm)", async () => {
    const { dir, dataDir, agent } = await setup();
    const client = agentClient(agent.port);
    await call(client, "createVm", firmwareVm(dir, "orphan", 1, false));
    client.close();
    await agent.stop("SIGKILL");
    // What the dead agent's StartVm had launched: a VMM for the VM, detached.
    const vmm = spawn(process.execPath, [VMM_MAIN, "--dir", join(dataDir, "vms", "orphan")], {
      detached: true,
      stdio: "ignore",
    });
    vmm.unref();
    await waitUntil("orphan VMM listening", () => existsSync(join(dataDir, "vms", "orphan", "vmm.sock")));

    const again = await startAgent({ dataDir });
    cleanups.push(() => again.stop("SIGKILL"));
    const c2 = agentClient(again.port);
    cleanups.push(() => c2.close());
    const vm = (await call(c2, "getVm", { vmId: "orphan" })).vm;
    expect(vm?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(vm?.vmmPid).toBe(vmm.pid);
  });
});
