/**
 * The agent running the real Linux guest (guests/linux: kernel, initramfs with the `skiff# ` shell,
 * ext2 disk): several VMs booting at once, console, graceful stop through SysRq, suspend/resume
 * with the guest's `counter` continuing, kill -9 of the agent under a running `counter &`, an idle
 * booted guest's CPU cost.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
} from "./test-support/harness.js";

const BOOT_MS = 240_000;
const PROMPT = "skiff# ";
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

/** The numbers of the `counter N ...` lines seen so far. */
function counterLines(text: string): number[] {
  return [...text.matchAll(/counter (\d+) [0-9a-f]{8} \d+:\d+ ok/g)].map((m) => Number(m[1]));
}

describe.skipIf(!existsSync(LINUX.kernel))("node agent with the Linux guest", () => {
  const consoles = new Map<string, ConsoleViewer>();

  it(
    "boots two Linux VMs at once, each to its shell, with its own disk",
    async () => {
      const started = Date.now();
      const created = await Promise.all(
        ["linux-a", "linux-b"].map((id) => call(client, "createVm", linuxVm(id))),
      );
      for (const c of created) expect(c.vm?.state).toBe(VmState.VM_STATE_RUNNING);
      for (const id of ["linux-a", "linux-b"]) consoles.set(id, new ConsoleViewer(client, id, 1));
      await Promise.all([...consoles.values()].map((v) => v.waitFor(PROMPT, BOOT_MS)));
      console.log(`two Linux VMs booted to the shell in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      for (const [id, v] of consoles) {
        expect(v.text).toContain("/dev/vda mounted on /data");
        v.type(`echo hello-from-${id}\n`);
      }
      await Promise.all([...consoles].map(([id, v]) => v.waitFor(`\nhello-from-${id}`, 30_000)));
      // Each VM has its own copy of the template disk.
      expect(existsSync(join(agent.dataDir, "vms", "linux-a", "disk.img"))).toBe(true);
    },
    BOOT_MS + 60_000,
  );

  it("costs next to no host CPU once the booted guest idles", async () => {
    await new Promise((r) => setTimeout(r, 5000));
    const stats = await call(client, "nodeStats", {});
    for (const vm of stats.vms) {
      expect(vm.state).toBe(VmState.VM_STATE_RUNNING);
      console.log(
        `idle ${vm.vmId}: cpu ${(vm.cpuShare * 100).toFixed(2)}% of a core, rss ${vm.vmmRssBytes >> 20} MiB, ` +
          `${vm.dirtyPagesPerSec.toFixed(1)} dirty pages/s`,
      );
      expect(vm.cpuShare).toBeLessThan(0.05);
    }
  }, 30_000);

  it("suspends to disk and resumes with the guest's counter continuing", async () => {
    const v = consoles.get("linux-b")!;
    v.type("counter\n");
    await waitUntil("counter running", () => counterLines(v.text).length >= 5, { timeoutMs: 60_000 });
    const pid = vmmPid(agent.dataDir, "linux-b");
    const s = await call(client, "suspendVm", { ref: { vmId: "linux-b", epoch: 1 } });
    expect(s.vm?.state).toBe(VmState.VM_STATE_SUSPENDED);
    expect(isAlive(pid)).toBe(false);
    const before = counterLines(v.text);
    const last = before[before.length - 1]!;
    console.log(`suspended at counter ${last}: snapshot ${(s.snapshotBytes / 1024 / 1024).toFixed(1)} MiB`);

    await new Promise((r) => setTimeout(r, 1000));
    const r = await call(client, "resumeSuspendedVm", { ref: { vmId: "linux-b", epoch: 1 } });
    expect(r.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    // With the replay: what the resumed guest printed before this viewer attached counts too.
    const after = new ConsoleViewer(client, "linux-b", 1);
    consoles.set("linux-b", after);
    const since = () => counterLines(after.text).filter((n) => n > last);
    await waitUntil("counter continues", () => since().length >= 3, { timeoutMs: 60_000 });
    const resumed = since();
    // The same process keeps counting: no reboot (which would restart at 1), no lines lost (but
    // the one it may have been printing when it stopped).
    expect(resumed[0]).toBeLessThanOrEqual(last + 2);
    for (let i = 1; i < resumed.length; i++) expect(resumed[i]).toBe(resumed[i - 1]! + 1);
    after.type("x");
    await after.waitFor(PROMPT, 30_000);
  }, 180_000);

  it("kill -9 of the agent leaves a Linux VM running `counter &`; the next agent reattaches and the count goes on", async () => {
    const v = consoles.get("linux-b")!;
    const pid = { a: vmmPid(agent.dataDir, "linux-a"), b: vmmPid(agent.dataDir, "linux-b") };
    const mark = v.text.length;
    v.type("counter &\n");
    await waitUntil("background counter running", () => counterLines(v.text.slice(mark)).length >= 5, {
      timeoutMs: 60_000,
    });
    const job = /\[(\d+)\]/.exec(v.text.slice(mark))?.[1];
    expect(job).toBeDefined();
    const { port, dataDir } = agent;
    client.close();
    await agent.stop("SIGKILL");
    await waitUntil("consoles cut with the agent", () => [...consoles.values()].every((c) => c.ended));
    const seen = counterLines(v.text.slice(mark));
    const lastSeen = seen[seen.length - 1]!;
    expect(isAlive(pid.a)).toBe(true);
    expect(isAlive(pid.b)).toBe(true);
    // A second with no agent at all: the guest counts on (ten lines a second).
    await new Promise((r) => setTimeout(r, 1000));

    agent = await startAgent({ dataDir, port });
    client = agentClient(port);
    for (const [id, p] of [
      ["linux-a", pid.a],
      ["linux-b", pid.b],
    ] as const) {
      const vm = (await call(client, "getVm", { vmId: id })).vm;
      expect(vm?.state).toBe(VmState.VM_STATE_RUNNING);
      expect(vm?.ref?.epoch).toBe(1);
      expect(vm?.vmmPid).toBe(p);
    }
    // A new viewer gets the VMM's recent screen, then live output: from the job's start, one run
    // of consecutive numbers across the time no agent was there.
    const fresh = new ConsoleViewer(client, "linux-b", 1);
    // From the command's echo: the job's first line may come before the shell prints `[job] pid`.
    const sinceJob = () => counterLines(fresh.text.slice(Math.max(0, fresh.text.lastIndexOf("counter &"))));
    await waitUntil("counter going on", () => (sinceJob().at(-1) ?? 0) >= lastSeen + 15, {
      timeoutMs: 60_000,
    });
    const lines = sinceJob();
    console.log(
      `counter at ${lastSeen} when the agent was killed, ${lines.at(-1)} seen through the next one`,
    );
    expect(lines[0]).toBe(1);
    for (let i = 1; i < lines.length; i++) expect(lines[i]).toBe(lines[i - 1]! + 1);
    fresh.type(`kill ${job}\n`);
    // Two spaces typed (and echoed by the tty), one printed by `echo`: only its output matches.
    fresh.type("echo counter  stopped\n");
    await fresh.waitFor("counter stopped", 30_000);
    consoles.set("linux-b", fresh);
    const a = new ConsoleViewer(client, "linux-a", 1);
    // Its replay in before the next test counts boots in it.
    await a.waitFor(PROMPT);
    consoles.set("linux-a", a);
  }, 180_000);

  it(
    "reboots a Linux guest in its VMM: RebootVm (hard reset) and the guest's own reboot",
    async () => {
      const v = consoles.get("linux-a")!;
      // Boots since the one running now: this viewer attached after the agent restart, and its
      // replay may or may not reach back to the first boot's messages.
      const inits = () => v.text.split("Run /init as init process").length - 1;
      const before = inits();
      const boots = () => 1 + inits() - before;
      const pid = vmmPid(agent.dataDir, "linux-a");
      const r = await call(client, "rebootVm", { ref: { vmId: "linux-a", epoch: 1 } });
      expect(r.vm?.state).toBe(VmState.VM_STATE_RUNNING);
      expect(r.vm?.vmmPid).toBe(pid);
      await waitUntil("second boot", () => boots() === 2 && v.text.endsWith(PROMPT), { timeoutMs: BOOT_MS });
      v.type("reboot\n");
      await waitUntil("third boot", () => boots() === 3 && v.text.endsWith(PROMPT), { timeoutMs: BOOT_MS });
      const info = (await call(client, "getVm", { vmId: "linux-a" })).vm;
      expect(info?.state).toBe(VmState.VM_STATE_RUNNING);
      expect(info?.vmmPid).toBe(pid);
    },
    2 * BOOT_MS,
  );

  it("stops a Linux guest gracefully through SysRq on the serial console", async () => {
    const v = consoles.get("linux-a")!;
    const res = await call(client, "stopVm", {
      ref: { vmId: "linux-a", epoch: 1 },
      force: false,
      timeoutMs: 60_000,
    });
    expect(res.graceful).toBe(true);
    expect(res.vm?.state).toBe(VmState.VM_STATE_STOPPED);
    expect(res.vm?.lastExit).toBe("stop: graceful");
    await waitUntil("console ends", () => v.ended);
    expect(v.text).toMatch(/sysrq: Power Off|reboot: Power down/);
  }, 120_000);

  it("reports the guest's own poweroff as stopped", async () => {
    const v = consoles.get("linux-b")!;
    v.type("poweroff\n");
    await waitUntil(
      "stopped",
      async () => (await call(client, "getVm", { vmId: "linux-b" })).vm?.state === VmState.VM_STATE_STOPPED,
      { timeoutMs: 60_000 },
    );
    expect((await call(client, "getVm", { vmId: "linux-b" })).vm?.lastExit).toMatch(/^poweroff/);
    for (const c of consoles.values()) c.close();
  }, 90_000);
});
