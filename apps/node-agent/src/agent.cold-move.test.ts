/**
 * Cold moves and resizes with real agent processes: a and b mount one shared storage, c keeps
 * disks locally. A stopped VM's disk is copied c → a (zero chunks stay behind) and its ownership
 * alone moves a → b; a suspended VM's snapshot is copied and restores on the new node; a running
 * VM is refused and nothing is staged. A stopped VM grows its disk and changes its memory. A
 * running VM's disk is snapshotted with its vCPU paused for the copy only, and restored.
 */
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { CreateVmRequest, ImportVmRequest } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaseEpochs } from "./storage/lease.js";
import {
  type AgentProcess,
  agentClient,
  call,
  firmwareVm,
  killVmms,
  makeTempDir,
  startAgent,
  VmState,
} from "./test-support/harness.js";

type Name = "a" | "b" | "c";
const tmp = makeTempDir("skiff-cold-");
const shared = join(tmp.path, "shared");
const dirs: Record<Name, string> = { a: join(tmp.path, "a"), b: join(tmp.path, "b"), c: join(tmp.path, "c") };
const agents: Partial<Record<Name, AgentProcess>> = {};
const clients: Partial<Record<Name, ReturnType<typeof agentClient>>> = {};
const cl = (n: Name) => clients[n]!;
const address = (n: Name) => `127.0.0.1:${agents[n]!.port}`;
const DISK = 4 << 20;

beforeAll(async () => {
  await Promise.all(
    (["a", "b", "c"] as const).map(async (n) => {
      agents[n] = await startAgent({
        dataDir: dirs[n],
        env:
          n === "c"
            ? { SKIFF_AGENT_NAME: n, SKIFF_AGENT_STORAGE: "local" }
            : { SKIFF_AGENT_NAME: n, SKIFF_AGENT_SHARED_DIR: shared },
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

const image = join(tmp.path, "image.bin");

function vm(vmId: string, epoch: number, start: boolean): CreateVmRequest {
  const req = firmwareVm(tmp.path, vmId, epoch, start);
  return { ...req, spec: { ...req.spec!, diskImagePath: image, diskBytes: DISK } };
}

function importReq(req: CreateVmRequest, from: Name, sourceEpoch: number): ImportVmRequest {
  return {
    ref: { vmId: req.ref!.vmId, epoch: sourceEpoch + 1 },
    spec: req.spec,
    migrationId: `cold-${req.ref!.vmId}-${sourceEpoch}`,
    sourceAgentAddress: address(from),
    sourceEpoch,
    sourceNode: from,
  };
}

/** What the guest wrote, at the start and 3 MiB in (the rest of the disk is zeros). */
function writeGuestData(disk: string): void {
  const fd = openSync(disk, "r+");
  writeSync(fd, Buffer.from("first block"), 0, undefined, 0);
  writeSync(fd, Buffer.from("far block"), 0, undefined, 3 << 20);
  closeSync(fd);
}

function expectGuestData(disk: string): void {
  const b = readFileSync(disk);
  expect(b.length).toBe(DISK);
  expect(b.subarray(0, 11).toString()).toBe("first block");
  expect(b.subarray(3 << 20, (3 << 20) + 9).toString()).toBe("far block");
}

describe("cold moves", () => {
  beforeAll(() => writeFileSync(image, Buffer.alloc(64 * 1024, 0x5a)));

  it("copies a stopped VM's disk from local to shared storage, then moves only its ownership", async () => {
    const req = vm("cold-1", 1, false);
    await call(cl("c"), "createVm", req);
    const localDisk = join(dirs.c, "vms", "cold-1", "disk.img");
    writeGuestData(localDisk);

    const toA = await call(cl("a"), "importVm", importReq(req, "c", 1));
    expect(toA.vm?.ref?.epoch).toBe(2);
    expect(toA.vm?.state).toBe(VmState.VM_STATE_CREATED);
    expect(toA.diskInPlace).toBe(false);
    // Only the two 1 MiB chunks holding data cross (the image and the first block; the far
    // block); the zeros in between do not.
    expect(toA.bytesCopied).toBe(2 << 20);
    const sharedDisk = join(shared, "disks", "cold-1", "disk.img");
    expect(toA.vm?.spec?.diskImagePath).toBe(sharedDisk);
    expectGuestData(sharedDisk);
    expect(leaseEpochs(join(shared, "disks", "cold-1"))).toEqual([2]);
    // The source keeps its copy until the control plane destroys it; a repeat is answered as done.
    expect((await call(cl("c"), "getVm", { vmId: "cold-1" })).vm?.ref?.epoch).toBe(1);
    expect((await call(cl("a"), "importVm", importReq(req, "c", 1))).vm?.ref?.epoch).toBe(2);
    await call(cl("c"), "destroyVm", { ref: { vmId: "cold-1", epoch: 1 } });

    const toB = await call(cl("b"), "importVm", importReq(req, "a", 2));
    expect(toB).toMatchObject({ diskInPlace: true, bytesCopied: 0 });
    expect(toB.vm?.spec?.diskImagePath).toBe(sharedDisk);
    expect(leaseEpochs(join(shared, "disks", "cold-1"))).toContain(3);
    await call(cl("a"), "destroyVm", { ref: { vmId: "cold-1", epoch: 2 } });
    expectGuestData(sharedDisk);
    const started = await call(cl("b"), "startVm", { ref: { vmId: "cold-1", epoch: 3 } });
    expect(started.vm?.state).toBe(VmState.VM_STATE_RUNNING);
  });

  it("copies a suspended VM's snapshot, and it restores on the new node", async () => {
    const req = vm("cold-2", 1, true);
    await call(cl("a"), "createVm", req);
    await call(cl("a"), "suspendVm", { ref: { vmId: "cold-2", epoch: 1 } });
    const toC = await call(cl("c"), "importVm", importReq(req, "a", 1));
    expect(toC.vm?.state).toBe(VmState.VM_STATE_SUSPENDED);
    expect(existsSync(join(dirs.c, "vms", "cold-2", "snapshot.skiffsnap"))).toBe(true);
    expect(statSync(join(dirs.c, "vms", "cold-2", "disk.img")).size).toBe(DISK);
    await call(cl("a"), "destroyVm", { ref: { vmId: "cold-2", epoch: 1 } });
    const back = await call(cl("c"), "resumeSuspendedVm", { ref: { vmId: "cold-2", epoch: 2 } });
    expect(back.vm?.state).toBe(VmState.VM_STATE_RUNNING);
  });

  it("refuses a running VM and a stale source epoch, leaving nothing staged", async () => {
    const req = vm("cold-3", 1, true);
    await call(cl("c"), "createVm", req);
    await expect(call(cl("a"), "importVm", importReq(req, "c", 1))).rejects.toEqual(
      refused("INVALID_TRANSITION"),
    );
    await call(cl("c"), "stopVm", { ref: { vmId: "cold-3", epoch: 1 }, force: true, timeoutMs: 0 });
    await call(cl("c"), "startVm", { ref: { vmId: "cold-3", epoch: 2 } });
    await call(cl("c"), "stopVm", { ref: { vmId: "cold-3", epoch: 2 }, force: true, timeoutMs: 0 });
    await expect(call(cl("a"), "importVm", importReq(req, "c", 1))).rejects.toEqual(refused("STALE_EPOCH"));
    expect((await call(cl("a"), "abortMigrationTarget", { vmId: "cold-3", migrationId: "" })).committed).toBe(
      false,
    );
    expect(readdirSync(join(dirs.a, "imports"))).toEqual([]);
    expect(existsSync(join(dirs.a, "vms", "cold-3"))).toBe(false);
  });
});

describe("resize", () => {
  it("grows a stopped VM's disk and changes its memory; a disk never shrinks", async () => {
    const ref = { vmId: "cold-3", epoch: 2 };
    const r = await call(cl("c"), "resizeVm", {
      ref,
      memoryBytes: 2 << 20,
      cpuMillis: 0,
      diskBytes: 2 * DISK,
    });
    expect(r.vm?.spec).toMatchObject({ memoryBytes: 2 << 20, diskBytes: 2 * DISK });
    expect(statSync(join(dirs.c, "vms", "cold-3", "disk.img")).size).toBe(2 * DISK);
    await expect(
      call(cl("c"), "resizeVm", { ref, memoryBytes: 0, cpuMillis: 0, diskBytes: DISK }),
    ).rejects.toEqual(refused("INVALID_ARGUMENT"));
    const started = await call(cl("c"), "startVm", { ref });
    expect(started.vm?.spec?.memoryBytes).toBe(2 << 20);
    await expect(
      call(cl("c"), "resizeVm", { ref, memoryBytes: 4 << 20, cpuMillis: 0, diskBytes: 0 }),
    ).rejects.toEqual(refused("INVALID_TRANSITION"));
  });
});

describe("disk snapshots", () => {
  it("snapshots a running VM's disk (paused for the copy only), restores it stopped, deletes it", async () => {
    const req = vm("snap-1", 1, true);
    const ref = { vmId: "snap-1", epoch: 1 };
    await call(cl("a"), "createVm", req);
    const disk = join(shared, "disks", "snap-1", "disk.img");
    writeGuestData(disk);
    const taken = await call(cl("a"), "snapshotDisk", { ref, snapshotId: "s1" });
    // On the shared storage the disk is on: every node that mounts it can use the snapshot.
    expect(taken.path).toBe(join(shared, "snapshots", "s1.img"));
    expect(taken.sizeBytes).toBe(DISK);
    expect(taken.pausedMs).toBeGreaterThan(0);
    expect((await call(cl("a"), "getVm", { vmId: "snap-1" })).vm?.state).toBe(VmState.VM_STATE_RUNNING);
    expectGuestData(taken.path);

    await call(cl("a"), "stopVm", { ref, force: true, timeoutMs: 0 });
    writeFileSync(disk, Buffer.alloc(DISK, 0x11));
    await call(cl("a"), "restoreDiskSnapshot", { ref, snapshotId: "s1" });
    expectGuestData(disk);
    await expect(call(cl("a"), "restoreDiskSnapshot", { ref, snapshotId: "nope" })).rejects.toEqual(
      refused("SNAPSHOT_NOT_FOUND"),
    );
    expect((await call(cl("b"), "deleteDiskSnapshot", { snapshotId: "s1" })).deleted).toBe(true);
    expect(existsSync(taken.path)).toBe(false);
    expect((await call(cl("a"), "deleteDiskSnapshot", { snapshotId: "s1" })).deleted).toBe(false);
  });
});
