/**
 * User snapshots of VM disks: `snapshots/<id>.img` beside where the disk lives (the agent's data
 * dir, or the shared storage the disk is on, so every node that mounts it can use the snapshot).
 * A running guest's vCPU is paused for the copy only: its disk writes are synchronous, so once
 * paused the file is exactly what the guest wrote (a crash-consistent copy). A copy is made aside
 * and renamed into place: a snapshot file is whole or absent.
 */
import {
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { agentError } from "../errors.js";
import type { VmRef, VmRegistry, VmView } from "../registry/registry.js";
import type { SharedStorage } from "./shared.js";

const SNAPSHOT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface SnapshotTaken {
  readonly path: string;
  readonly sizeBytes: number;
  readonly pausedMs: number;
}

export class DiskSnapshots {
  constructor(
    private readonly registry: VmRegistry,
    private readonly dataDir: string,
    private readonly storage: SharedStorage | undefined,
  ) {}

  async take(ref: VmRef, snapshotId: string): Promise<SnapshotTaken> {
    const vm = this.registry.get(ref.vmId);
    const path = this.pathFor(vm, snapshotId);
    if (vm.record.state === "running") {
      await this.registry.pause(ref);
      const t0 = performance.now();
      try {
        copyAside(diskOf(vm), path);
      } finally {
        await this.registry.resume(ref);
      }
      return { path, sizeBytes: statSync(path).size, pausedMs: performance.now() - t0 };
    }
    if (vm.record.state === "paused") copyAside(diskOf(vm), path);
    else await this.registry.withIdleVm(ref, async ({ record }) => copyAside(diskOf({ record }), path));
    return { path, sizeBytes: statSync(path).size, pausedMs: 0 };
  }

  async restore(ref: VmRef, snapshotId: string): Promise<VmView> {
    await this.registry.withIdleVm(ref, async ({ record }) => {
      if (record.state === "suspended") {
        throw agentError(
          "INVALID_TRANSITION",
          `vm ${ref.vmId} is suspended: its RAM belongs to its disk as it is`,
        );
      }
      const snap = this.pathFor({ record }, snapshotId);
      if (!existsSync(snap)) throw agentError("SNAPSHOT_NOT_FOUND", `no snapshot ${snapshotId} here`);
      const disk = diskOf({ record });
      copyAside(snap, disk);
      if (record.spec.diskBytes > statSync(disk).size) truncateSync(disk, record.spec.diskBytes);
    });
    return this.registry.get(ref.vmId);
  }

  /** Removes the snapshot wherever this node may keep it. */
  delete(snapshotId: string): boolean {
    checkId(snapshotId);
    let deleted = false;
    for (const root of [this.dataDir, this.storage?.dir]) {
      if (root === undefined) continue;
      const p = join(root, "snapshots", `${snapshotId}.img`);
      if (existsSync(p)) {
        rmSync(p, { force: true });
        deleted = true;
      }
    }
    return deleted;
  }

  private pathFor(vm: Pick<VmView, "record">, snapshotId: string): string {
    checkId(snapshotId);
    const root = vm.record.spec.diskStorage && this.storage ? this.storage.dir : this.dataDir;
    return join(root, "snapshots", `${snapshotId}.img`);
  }
}

function checkId(id: string): void {
  if (!SNAPSHOT_ID.test(id) || id.includes("..")) {
    throw agentError("INVALID_ARGUMENT", `bad snapshot id "${id}": 1-64 of [A-Za-z0-9_.-]`);
  }
}

function diskOf(vm: Pick<VmView, "record">): string {
  const disk = vm.record.spec.diskPath;
  if (disk === "") throw agentError("INVALID_ARGUMENT", `vm ${vm.record.vmId} has no disk`);
  return disk;
}

/** Copies `from` to `to` through a temp file renamed into place (a reflink where the filesystem has them). */
function copyAside(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  const tmp = `${to}.tmp`;
  try {
    copyFileSync(from, tmp, constants.COPYFILE_FICLONE);
    renameSync(tmp, to);
  } finally {
    rmSync(tmp, { force: true });
  }
}
