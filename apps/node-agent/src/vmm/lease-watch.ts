/**
 * The VMM's side of a disk lease (storage/lease.ts): it never opens a disk a higher epoch owns,
 * and while its guest runs it looks every LEASE_CHECK_MS; once a higher epoch owns the disk (its
 * VPS was restarted elsewhere while this node was cut off) the guest is stopped before it can
 * write again. This runs in the VMM, not the agent: the agent may be dead while its VMMs run on.
 */

import { agentError } from "../errors.js";
import { LEASE_CHECK_MS, leaseHolder } from "../storage/lease.js";

export interface LeaseWatchOptions {
  readonly vmId: string;
  readonly leaseDir: string;
  /**
   * The epoch this VMM runs at. The agent may raise it while the VMM runs (and claims the disk at
   * the new epoch): `fresh` asks to re-read the VM's record rather than answer from memory.
   */
  epoch(fresh: boolean): number;
  /** An epoch that may own the disk without fencing this VMM: a live migration's target. */
  tolerated(): number | undefined;
  /** A higher epoch owns the disk: stop the guest and end. */
  lost(holder: number): void;
}

/** Throws STALE_EPOCH when a higher epoch than `epoch` owns the disk (checked before opening it). */
export function assertLeaseHeld(vmId: string, leaseDir: string, epoch: number): void {
  const holder = leaseHolder(leaseDir);
  if (holder > epoch) {
    throw agentError(
      "STALE_EPOCH",
      `the disk of vm ${vmId} is owned by epoch ${holder}; this VMM runs epoch ${epoch}: not opened`,
      { vmId, held: holder, given: epoch },
    );
  }
}

export class LeaseWatch {
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(private readonly opts: LeaseWatchOptions) {}

  start(): void {
    if (this.timer || this.done) return;
    this.timer = setInterval(() => this.check(), LEASE_CHECK_MS);
  }

  stop(): void {
    this.done = true;
    clearInterval(this.timer);
  }

  private check(): void {
    let holder: number;
    try {
      holder = leaseHolder(this.opts.leaseDir);
    } catch {
      return; // storage briefly unreadable: look again next time (the guest's I/O fails meanwhile)
    }
    if (holder <= this.opts.epoch(false) || holder === this.opts.tolerated()) return;
    if (holder <= this.opts.epoch(true)) return;
    this.stop();
    this.opts.lost(holder);
  }
}
