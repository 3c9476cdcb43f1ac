/**
 * Ownership of a disk on shared storage, by epoch. Every node mounts the disk, so the agents'
 * epoch fencing alone cannot stop a stale VMM (its node cut off, then its VPS restarted
 * elsewhere at a higher epoch) from writing it. Next to the disk, each generation that claims it
 * leaves a file `lease.<epoch>`; the highest epoch present owns the disk. Claiming is creating
 * one's own file (O_EXCL) and then looking again, so of two racing claimers the older always
 * sees the newer and backs off, whatever the order. A VMM refuses to open a disk owned by a
 * higher epoch and, while it runs, looks every LEASE_CHECK_MS and stops its guest as soon as a
 * higher epoch appears; a claimer that takes a disk over from an older epoch waits
 * LEASE_GRACE_MS before its guest opens it, so the old one has stopped writing by then.
 *
 * Plain files and O_EXCL behave the same on a local directory and on NFS (v3+), which is all this
 * needs. It is not a storage-level fence: a VMM whose host is frozen longer than the grace, or an
 * NFS client that flushes writes cached before it was cut off, can still land late writes.
 */
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SkiffError } from "@skiff/common";
import { agentError } from "../errors.js";

/** How often a running VMM looks at its disk's lease. */
export const LEASE_CHECK_MS = 500;
/** How long a new owner waits after taking a disk over, before its guest may write it. */
export const LEASE_GRACE_MS = 3 * LEASE_CHECK_MS;

const LEASE_FILE = /^lease\.(\d+)$/;

/** The epochs that claimed the disk in `dir`, highest first (empty when none did). */
export function leaseEpochs(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: number[] = [];
  for (const n of names) {
    const m = LEASE_FILE.exec(n);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => b - a);
}

/** The epoch that owns the disk in `dir` (0 when no generation claimed it yet). */
export function leaseHolder(dir: string): number {
  return leaseEpochs(dir)[0] ?? 0;
}

function stale(dir: string, vmId: string, holder: number, epoch: number): SkiffError {
  return agentError(
    "STALE_EPOCH",
    `the disk of vm ${vmId} on shared storage is owned by epoch ${holder}, this command carries ${epoch}`,
    { vmId, held: holder, given: epoch, leaseDir: dir },
  );
}

/**
 * STALE_EPOCH when an epoch above `epoch` owns the disk in `dir`: the one check before anything
 * acts on a shared disk (create, start, a raised epoch, delete) and again after a claim.
 */
export function refuseIfOwnedAbove(dir: string, vmId: string, epoch: number): void {
  const holder = leaseHolder(dir);
  if (holder > epoch) throw stale(dir, vmId, holder, epoch);
}

export interface Claim {
  /** The older epoch this claim took the disk over from (undefined: none, or it was ours already). */
  readonly tookOverFrom: number | undefined;
}

/**
 * Claims the disk in `dir` for `epoch`. Throws STALE_EPOCH when a higher epoch owns it (or claims
 * it meanwhile). Claiming again at the same epoch is a no-op.
 */
export function claimLease(dir: string, vmId: string, epoch: number, node: string): Claim {
  const before = leaseHolder(dir);
  if (before > epoch) throw stale(dir, vmId, before, epoch);
  if (before === epoch) return { tookOverFrom: undefined };
  try {
    writeFileSync(join(dir, `lease.${epoch}`), `${JSON.stringify({ epoch, node, atMs: Date.now() })}\n`, {
      flag: "wx",
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  // Look again: a newer claimer that came in meanwhile wins, however the two interleaved.
  const after = leaseHolder(dir);
  if (after > epoch) throw stale(dir, vmId, after, epoch);
  return { tookOverFrom: before > 0 ? before : undefined };
}

/** Removes the lease files of epochs below `epoch` (once their VMMs cannot be writing any more). */
export function pruneLeases(dir: string, epoch: number): void {
  for (const e of leaseEpochs(dir)) if (e < epoch) rmSync(join(dir, `lease.${e}`), { force: true });
}
