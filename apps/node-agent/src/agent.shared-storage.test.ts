/**
 * Disks on shared storage with real agent processes: agents a and b mount one shared directory,
 * c keeps disks locally. A VPS's disk is made once and reused on any node; a stale VMM is fenced
 * off it (the lease), a stale VM is destroyed without its disk, and only deleting the VPS removes
 * the disk. The Linux guest writes a file, migrates a → b with no disk byte sent (only ownership
 * moves), then b → c and c → a with the disk copied, its data intact at every stop.
 */
import { closeSync as closeFd, existsSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type CreateVmRequest, MigrationOutcome } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEASE_GRACE_MS, leaseEpochs } from "./storage/lease.js";
import {
  type AgentProcess,
  agentClient,
  ConsoleViewer,
  call,
  firmwareVm,
  isAlive,
  killVmms,
  linuxVm,
  makeTempDir,
  startAgent,
  VmState,
  vmmPid,
  waitUntil,
} from "./test-support/harness.js";
import { startHop } from "./test-support/migration-rpcs.js";

type Name = "a" | "b" | "c";
const tmp = makeTempDir("skiff-shared-");
const shared = join(tmp.path, "shared");
const dirs: Record<Name, string> = { a: join(tmp.path, "a"), b: join(tmp.path, "b"), c: join(tmp.path, "c") };
const agents: Partial<Record<Name, AgentProcess>> = {};
const clients: Partial<Record<Name, ReturnType<typeof agentClient>>> = {};
const cl = (n: Name) => clients[n]!;
const diskDir = (vmId: string) => join(shared, "disks", vmId);

beforeAll(async () => {
  await Promise.all(
    (["a", "b", "c"] as const).map(async (n) => {
      agents[n] = await startAgent({
        dataDir: dirs[n],
        env:
          n === "c"
            ? { SKIFF_AGENT_NAME: n, SKIFF_AGENT_STORAGE: "local", SKIFF_AGENT_SHARED_DIR: shared }
            : // b's log (info) says when it waits out a lease grace.
              {
                SKIFF_AGENT_NAME: n,
                SKIFF_AGENT_SHARED_DIR: shared,
                ...(n === "b" ? { LOG_LEVEL: "info" } : {}),
              },
      });
      clients[n] = agentClient(agents[n].port);
    }),
  );
});

afterAll(async () => {
  for (const n of ["a", "b", "c"] as const) {
    clients[n]?.close();
    await agents[n]?.stop();
    killVmms(dirs[n]);
  }
  tmp.remove();
});

const refused = (code: string) =>
  expect.objectContaining({ details: expect.stringMatching(new RegExp(`^${code}`)) });

/** A firmware VM with a disk (the echo firmware does not touch it; the test writes it instead). */
function withDisk(req: CreateVmRequest, image: string, epoch: number, mustExist = false): CreateVmRequest {
  return {
    ...req,
    ref: { vmId: req.ref!.vmId, epoch },
    spec: { ...req.spec!, diskImagePath: image, diskBytes: 256 * 1024, diskMustExist: mustExist },
  };
}

describe("disks on shared storage", () => {
  it("reports the storage: a and b share one, c is local", async () => {
    const [a, b, c] = await Promise.all((["a", "b", "c"] as const).map((n) => call(cl(n), "nodeStats", {})));
    expect(a.storageBackend).toBe("shared");
    expect(a.storageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b).toMatchObject({ storageBackend: "shared", storageId: a.storageId });
    expect(c).toMatchObject({ storageBackend: "local", storageId: "" });
  });

  it("restarts a VPS elsewhere from its disk, fences the stale VMM off it, destroys the stale VM without the disk", async () => {
    const image = join(tmp.path, "image.bin");
    writeFileSync(image, Buffer.alloc(64 * 1024, 0x5a));
    const base = firmwareVm(tmp.path, "vps-f");
    await call(cl("a"), "createVm", withDisk(base, image, 1));
    const disk = join(diskDir("vps-f"), "disk.img");
    expect(readFileSync(disk).length).toBe(256 * 1024);
    // What the guest wrote (as it would, through virtio-blk).
    const fd = openSync(disk, "r+");
    writeSync(fd, Buffer.from("the VPS's data"), 0, undefined, 0);
    closeFd(fd);
    const stalePid = vmmPid(dirs.a, "vps-f");
    expect(isAlive(stalePid)).toBe(true);

    // a is cut off; the VPS is cold-restarted on b at epoch 2 from the disk it has, while a's VMM
    // still runs. b waits out the lease grace before its guest opens the disk.
    const t0 = Date.now();
    const onB = await call(cl("b"), "createVm", withDisk(base, image, 2, true));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(LEASE_GRACE_MS - 50);
    expect(onB.vm?.state).toBe(VmState.VM_STATE_RUNNING);
    expect(onB.vm?.spec?.diskImagePath).toBe(disk);
    await waitUntil("the stale VMM stopped itself", () => !isAlive(stalePid), { timeoutMs: 5000 });
    const stale = (await call(cl("a"), "getVm", { vmId: "vps-f" })).vm!;
    expect(stale.state).toBe(VmState.VM_STATE_CRASHED);
    expect(stale.lastExit).toMatch(/^fatal: fenced: epoch 2 owns the disk/);
    expect(readFileSync(disk).subarray(0, 14).toString()).toBe("the VPS's data");
    expect(leaseEpochs(diskDir("vps-f"))).toEqual([2]);

    // The stale generation cannot take the disk back, nor delete it.
    await expect(call(cl("a"), "startVm", { ref: { vmId: "vps-f", epoch: 1 } })).rejects.toEqual(
      refused("STALE_EPOCH"),
    );
    await expect(
      call(cl("a"), "destroyVm", { ref: { vmId: "vps-f", epoch: 1 }, deleteDisk: true }),
    ).rejects.toEqual(refused("STALE_EPOCH"));
    expect((await call(cl("a"), "getVm", { vmId: "vps-f" })).vm?.ref?.epoch).toBe(1);
    // Destroyed as stale (the node came back): its dir goes, the VPS's disk stays.
    await call(cl("a"), "destroyVm", { ref: { vmId: "vps-f", epoch: 1 } });
    expect(existsSync(join(dirs.a, "vms", "vps-f"))).toBe(false);
    expect(readFileSync(disk).subarray(0, 14).toString()).toBe("the VPS's data");
    expect((await call(cl("b"), "getVm", { vmId: "vps-f" })).vm?.state).toBe(VmState.VM_STATE_RUNNING);
    // A stale CreateVm is refused too, and makes nothing.
    await expect(call(cl("a"), "createVm", withDisk(base, image, 1))).rejects.toEqual(refused("STALE_EPOCH"));
    expect(existsSync(join(dirs.a, "vms", "vps-f"))).toBe(false);

    // A VPS that ran before never comes back on a fresh image copy: not on shared storage without
    // its disk, never on a node that keeps disks locally.
    await expect(
      call(cl("b"), "createVm", withDisk(firmwareVm(tmp.path, "vps-gone"), image, 3, true)),
    ).rejects.toEqual(refused("DISK_NOT_FOUND"));
    expect(existsSync(join(diskDir("vps-gone"), "disk.img"))).toBe(false);
    await expect(call(cl("c"), "createVm", withDisk(base, image, 3, true))).rejects.toEqual(
      refused("DISK_NOT_FOUND"),
    );

    // Stopped and started again on b: the same disk, no grace to wait any more. (Not timed: a
    // VMM's start alone can take longer than the grace on a loaded host; b's log says it waited.)
    const t1 = Date.now();
    await call(cl("b"), "stopVm", { ref: { vmId: "vps-f", epoch: 2 }, force: true, timeoutMs: 0 });
    await call(cl("b"), "startVm", { ref: { vmId: "vps-f", epoch: 2 } });
    const graceWaitsSince = agents
      .b!.proc.output()
      .split("\n")
      .filter((l) => l.includes("waiting out the lease grace") && JSON.parse(l).time >= t1);
    expect(graceWaitsSince).toEqual([]);
    expect(readFileSync(disk).subarray(0, 14).toString()).toBe("the VPS's data");

    // The VPS is deleted: its disk goes with it.
    await call(cl("b"), "destroyVm", { ref: { vmId: "vps-f", epoch: 2 }, deleteDisk: true });
    expect(existsSync(diskDir("vps-f"))).toBe(false);
  });

  it("migrates the Linux guest a → b moving no disk byte, then b → c and c → a copying it; the data stays", async () => {
    const PROMPT = "skiff# ";
    const vmId = "vps-linux";
    const req = linuxVm(vmId, 64);
    await call(cl("a"), "createVm", req);
    let epoch = 1;
    let viewer = new ConsoleViewer(cl("a"), vmId, epoch);
    await viewer.waitFor(PROMPT, 240_000);
    /** Types a command and waits for a line of its output (not the echo of the typed line). */
    const run = async (cmd: string, line: string) => {
      const mark = viewer.text.length;
      viewer.type(`${cmd}\n`);
      // A line of output: after a newline, or after a prompt the shell printed late (the typed line
      // echoed before it).
      const printed = () => {
        const out = viewer.text.slice(mark);
        return out.includes(`\n${line}\r\n`) || out.includes(`${PROMPT}${line}\r\n`);
      };
      await waitUntil(`"${cmd}" prints ${line}`, printed, {
        timeoutMs: 20_000,
      }).catch((err: Error) => {
        throw new Error(`${err.message}\n--- console ---\n${viewer.text.slice(-1500)}`);
      });
    };
    const token = `written-on-a-${Date.now()}`;
    await run(`write /data/proof ${token}; cat /data/proof`, token);

    const hop = async (from: Name, to: Name) => {
      const h = await startHop({
        from: cl(from),
        to: cl(to),
        toAgentAddress: `127.0.0.1:${agents[to]!.port}`,
        vmId,
        epoch,
        spec: req.spec!,
        migrationId: `hop-${from}-${to}`,
      });
      const r = await h.done;
      expect(r.errorMessage).toBe("");
      expect(r.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_COMMITTED);
      epoch++;
      viewer.close();
      viewer = new ConsoleViewer(cl(to), vmId, epoch);
      return r.stats!;
    };

    // a → b on the same storage: only ownership moves.
    const ab = await hop("a", "b");
    expect(ab.diskInPlace).toBe(true);
    expect(ab.diskBytesSent).toBe(0);
    expect(ab.rounds.every((r) => r.blocks === 0)).toBe(true);
    expect(leaseEpochs(diskDir(vmId))[0]).toBe(2);
    expect((await call(cl("b"), "getVm", { vmId })).vm?.spec?.diskImagePath).toBe(
      join(diskDir(vmId), "disk.img"),
    );
    await run("cat /data/proof", token);
    await run("write /data/proof2 written-on-b; cat /data/proof2", "written-on-b");

    // b → c (local storage): the disk is copied, and b drops the left-over copy on shared storage.
    const bc = await hop("b", "c");
    expect(bc.diskInPlace).toBe(false);
    expect(bc.diskBytesSent).toBeGreaterThan(0);
    expect(existsSync(diskDir(vmId))).toBe(false);
    expect((await call(cl("c"), "getVm", { vmId })).vm?.spec?.diskImagePath).toBe(
      join(dirs.c, "vms", vmId, "disk.img"),
    );
    await run("cat /data/proof", token);
    await run("cat /data/proof2", "written-on-b");

    // c → a: copied onto shared storage, owned there at the new epoch.
    const ca = await hop("c", "a");
    expect(ca.diskInPlace).toBe(false);
    expect(ca.diskBytesSent).toBeGreaterThan(0);
    expect(leaseEpochs(diskDir(vmId))[0]).toBe(4);
    await run("cat /data/proof2", "written-on-b");
    console.log(
      `a→b in place: ${(ab.bytesSent / 2 ** 20).toFixed(2)} MiB sent, ${ab.totalMs.toFixed(0)} ms, downtime ${ab.downtimeMs.toFixed(1)} ms; ` +
        `b→c copied: ${(bc.bytesSent / 2 ** 20).toFixed(2)} MiB (disk ${(bc.diskBytesSent / 2 ** 20).toFixed(2)} MiB), ${bc.totalMs.toFixed(0)} ms, downtime ${bc.downtimeMs.toFixed(1)} ms`,
    );
    viewer.close();
    await call(cl("a"), "destroyVm", { ref: { vmId, epoch }, deleteDisk: true });
    expect(existsSync(diskDir(vmId))).toBe(false);
  });
});
