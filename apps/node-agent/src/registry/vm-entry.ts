/** One VM as the registry holds it: its record, its VMM connection, its command queue. */
import { readFileSync } from "node:fs";
import type { VmPaths } from "../vm/layout.js";
import type { VmRecord } from "../vm/record.js";
import type { VmmClient } from "../vmm/client.js";
import { rssOf } from "../vmm/process.js";
import type { VmmStatus } from "../vmm/protocol.js";

export interface VmRef {
  readonly vmId: string;
  readonly epoch: number;
}

/** What callers see of a VM. */
export interface VmView {
  readonly record: Readonly<VmRecord>;
  readonly vmmPid: number;
  readonly status: VmmStatus | undefined;
  readonly rssBytes: number;
}

export class VmEntry {
  vmm: VmmClient | undefined;
  pid = 0;
  status: VmmStatus | undefined;
  /** When this node took the VM's shared disk over from an older epoch (0: it did not). */
  takeoverAtMs = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    public record: VmRecord,
    readonly paths: VmPaths,
  ) {}

  /** Runs `fn` after every command queued before it on this VM. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  idle(): Promise<unknown> {
    return this.queue;
  }

  /** The VMM is gone (or let go of): nothing of it is held any more. */
  dropVmm(): void {
    this.vmm = undefined;
    this.pid = 0;
    this.status = undefined;
  }

  view(): VmView {
    return {
      record: structuredClone(this.record),
      vmmPid: this.pid,
      status: this.status,
      rssBytes: this.pid > 0 ? rssOf(this.pid) : 0,
    };
  }
}

/** The pid a VMM wrote into the VM's dir (0: none). */
export function recordedPid(paths: VmPaths): number {
  try {
    return Number.parseInt(readFileSync(paths.pid, "utf8"), 10) || 0;
  } catch {
    return 0;
  }
}
