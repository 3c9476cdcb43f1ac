/**
 * Shared storage for VM disks: a directory every node of a cluster mounts (NFS or similar in
 * production, one directory in the local cluster).
 *
 *   skiff-storage.json        {version, id, createdAtMs}: the storage's identity, made once by the
 *                             first agent that mounts it. Two nodes that read the same id mount the
 *                             same storage; a node whose mount is missing makes a fresh directory
 *                             with another id, so it is never mistaken for a sharer.
 *   disks/<vmId>/disk.img     the VPS's disk (the VM id is the VPS id): made from the image at its
 *                             first CreateVm, reused, never overwritten, by every later CreateVm of
 *                             the same VPS on any node; removed only when the VPS is deleted
 *   disks/<vmId>/lease.<n>    which epoch owns the disk (lease.ts)
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { errorMessage } from "@skiff/common";
import { agentError } from "../errors.js";
import { validateVmId } from "../vm/layout.js";
import { refuseIfOwnedAbove } from "./lease.js";

/** What the agent tells the control plane about where its VM disks live. */
export interface StorageReport {
  readonly backend: "local" | "shared";
  /** The shared storage's identity ("" for local). */
  readonly id: string;
}

const IDENTITY = "skiff-storage.json";

/** Creates `path` with `content` unless it exists (atomically: a racing creator's file wins). */
function createOnce(path: string, content: string): boolean {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, content);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

export class SharedStorage {
  private constructor(
    readonly dir: string,
    readonly id: string,
  ) {}

  /** Opens the storage in `dir`, giving it an identity if it has none yet. */
  static open(dir: string): SharedStorage {
    try {
      mkdirSync(join(dir, "disks"), { recursive: true });
      const path = join(dir, IDENTITY);
      if (!existsSync(path)) {
        createOnce(
          path,
          `${JSON.stringify({ version: 1, id: randomUUID(), createdAtMs: Date.now() }, null, 2)}\n`,
        );
      }
      const raw = JSON.parse(readFileSync(path, "utf8")) as { version?: unknown; id?: unknown };
      if (raw.version !== 1 || typeof raw.id !== "string" || raw.id === "") {
        throw new Error(`${path} is not a storage identity`);
      }
      return new SharedStorage(dir, raw.id);
    } catch (err) {
      throw agentError("SHARED_STORAGE_UNUSABLE", `shared storage ${dir}: ${errorMessage(err)}`, { dir });
    }
  }

  /** The VPS's directory on the storage: its disk and its leases. */
  diskDir(vmId: string): string {
    validateVmId(vmId);
    return join(this.dir, "disks", vmId);
  }

  diskPath(vmId: string): string {
    return join(this.diskDir(vmId), "disk.img");
  }

  /**
   * The VPS's disk, made from `image` (grown, sparse, to `bytes`) only if it does not exist yet;
   * an existing one is kept as it is. With `mustExist` a missing disk is an error: a VPS that ran
   * before must never come back on a fresh copy of its image.
   */
  ensureDisk(vmId: string, image: string, bytes: number, mustExist: boolean): { created: boolean } {
    const disk = this.diskPath(vmId);
    mkdirSync(this.diskDir(vmId), { recursive: true });
    if (existsSync(disk)) return { created: false };
    if (mustExist) {
      throw agentError(
        "DISK_NOT_FOUND",
        `vm ${vmId} must start from its existing disk, and shared storage ${this.id} has none`,
        { vmId, storageId: this.id },
      );
    }
    // Made aside and linked into place: a concurrent CreateVm of the same VPS never sees half a
    // disk, and the first one to finish is the disk (the other's copy is thrown away).
    const tmp = `${disk}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      copyFileSync(image, tmp, constants.COPYFILE_FICLONE);
      if (bytes > statSync(tmp).size) truncateSync(tmp, bytes);
      try {
        linkSync(tmp, disk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") return { created: false };
        throw err;
      }
      return { created: true };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /**
   * Removes the VPS's disk and leases, unless a generation newer than `epoch` owns it (STALE_EPOCH):
   * whoever deletes must be the VPS's latest owner, so a late delete never takes a live disk.
   */
  deleteDisk(vmId: string, epoch: number): boolean {
    return deleteDiskDir(this.diskDir(vmId), vmId, epoch);
  }
}

/** Removes a disk's directory on shared storage unless an epoch above `epoch` owns it. */
export function deleteDiskDir(dir: string, vmId: string, epoch: number): boolean {
  if (!existsSync(dir)) return false;
  refuseIfOwnedAbove(dir, vmId, epoch);
  rmSync(dir, { recursive: true, force: true });
  return true;
}
