/**
 * A VM's disk and who owns it: made at create (local copy, or the VPS's disk on shared storage),
 * owned by epoch on shared storage (storage/lease.ts) before a VMM opens it.
 */
import { constants, copyFileSync, statSync, truncateSync } from "node:fs";
import type { Logger } from "@skiff/common";
import { agentError } from "../errors.js";
import { claimLease, LEASE_GRACE_MS, pruneLeases, refuseIfOwnedAbove } from "../storage/lease.js";
import type { SharedStorage } from "../storage/shared.js";
import { hasVmm } from "../vm/lifecycle.js";
import type { SpecResolver, VmSpecInput } from "./spec.js";
import type { VmEntry } from "./vm-entry.js";

export interface DiskLeaseOptions {
  readonly storage: SharedStorage | undefined;
  /** This node's name, written into the disk leases it claims (for people reading them). */
  readonly nodeName: string;
  readonly specs: SpecResolver;
  readonly log: Logger;
}

export class DiskLeases {
  constructor(private readonly opts: DiskLeaseOptions) {}

  /**
   * The VM's disk at create. Local: a reflink where the filesystem has them, else a copy, grown
   * (sparse) to disk_bytes. Shared: the VPS's disk on the storage, made from the image only if it
   * has none yet, and claimed for this epoch (a higher epoch owning it refuses the create).
   */
  make(entry: VmEntry, input: VmSpecInput): void {
    const { vmId, epoch, spec } = entry.record;
    const { storage, specs } = this.opts;
    const ds = spec.diskStorage;
    if (!storage || !ds) {
      if (input.diskMustExist) {
        throw agentError(
          "DISK_NOT_FOUND",
          `vm ${vmId} must start from its existing disk, and this node keeps disks locally`,
          { vmId },
        );
      }
      copyFileSync(specs.resolvePath(input.diskImagePath), spec.diskPath, constants.COPYFILE_FICLONE);
      if (input.diskBytes > statSync(spec.diskPath).size) truncateSync(spec.diskPath, input.diskBytes);
      return;
    }
    refuseIfOwnedAbove(ds.leaseDir, vmId, epoch);
    const { created } = storage.ensureDisk(
      vmId,
      specs.resolvePath(input.diskImagePath),
      input.diskBytes,
      input.diskMustExist,
    );
    const claim = claimLease(ds.leaseDir, vmId, epoch, this.opts.nodeName);
    if (claim.tookOverFrom !== undefined) entry.takeoverAtMs = Date.now();
    this.opts.log.info(
      { vmId, epoch, storage: ds.id, tookOverFrom: claim.tookOverFrom },
      created ? "disk made on shared storage from the image" : "the VPS's disk on shared storage, reused",
    );
  }

  /**
   * Before a VMM opens a disk on shared storage: own it at this epoch, and after taking it over
   * from an older one give that one's VMM the grace to notice and stop writing.
   */
  async own(entry: VmEntry): Promise<void> {
    const r = entry.record;
    const ds = r.spec.diskStorage;
    if (!ds) return;
    const claim = claimLease(ds.leaseDir, r.vmId, r.epoch, this.opts.nodeName);
    if (claim.tookOverFrom !== undefined) entry.takeoverAtMs = Date.now();
    const wait = entry.takeoverAtMs + LEASE_GRACE_MS - Date.now();
    if (wait > 0) {
      this.opts.log.info(
        { vmId: r.vmId, epoch: r.epoch, waitMs: wait },
        "disk taken over: waiting out the lease grace",
      );
      await new Promise((res) => setTimeout(res, wait));
    }
    pruneLeases(ds.leaseDir, r.epoch);
  }

  /** Before a VM's epoch is raised to `epoch`: refused if a higher one owns its disk already. */
  checkRaise(entry: VmEntry, epoch: number): void {
    const ds = entry.record.spec.diskStorage;
    if (ds) refuseIfOwnedAbove(ds.leaseDir, entry.record.vmId, epoch);
  }

  /** After the raise: a running VMM now holds the disk at the new epoch (it re-reads its record). */
  raised(entry: VmEntry): void {
    const ds = entry.record.spec.diskStorage;
    if (ds && hasVmm(entry.record.state))
      claimLease(ds.leaseDir, entry.record.vmId, entry.record.epoch, this.opts.nodeName);
  }
}
