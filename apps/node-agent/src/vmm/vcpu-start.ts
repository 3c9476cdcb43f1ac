/**
 * The first thing a VMM process does, before it loads the rest of itself (the control socket,
 * migration, gRPC and TLS: ~75–200 ms of module loading): make the guest's memory and start the
 * vCPU worker. The worker's own start (a V8 isolate, hv-core, the interpreter's warm-up, the boot
 * or the restore) then runs beside that loading on the other core instead of after it. What the
 * worker reports before the VMM is there to hear it is kept and handed over when it attaches.
 */
import { MessageChannel, type MessagePort } from "node:worker_threads";
import type { VmSpecRecord } from "../vm/record.js";
import { type GuestMemory, guestMemoryFor } from "./guest-memory.js";
import { assertLeaseHeld } from "./lease-watch.js";
import { raiseGroupForRestore } from "./migrate-priority.js";
import { Vcpu, type VcpuEvents } from "./vcpu.js";
import type { GuestEnd } from "./vcpu-messages.js";

/** Forwards the worker's events to the VMM once it attaches; keeps them in order until then. */
export class VcpuEventRelay implements VcpuEvents {
  private sink: VcpuEvents | undefined;
  private early: ((sink: VcpuEvents) => void)[] = [];

  attach(sink: VcpuEvents): void {
    this.sink = sink;
    for (const deliver of this.early) deliver(sink);
    this.early = [];
  }

  private to(deliver: (sink: VcpuEvents) => void): void {
    if (this.sink) deliver(this.sink);
    else this.early.push(deliver);
  }

  output(bytes: Uint8Array): void {
    this.to((s) => s.output(bytes));
  }
  stats(s: { instret: number }): void {
    this.to((sink) => sink.stats(s));
  }
  rebooted(): void {
    this.to((s) => s.rebooted());
  }
  end(e: GuestEnd): void {
    this.to((s) => s.end(e));
  }
}

export interface VcpuStart {
  readonly memory: GuestMemory;
  readonly vcpu: Vcpu;
  readonly events: VcpuEventRelay;
  /** The NIC thread's end of the frame path (a VM with a NIC). */
  readonly nicPort: MessagePort | undefined;
  /** Back to the VMM's priority once a restore's guest runs. */
  readonly lowerRestore: () => void;
}

export function startVcpu(
  vmId: string,
  spec: VmSpecRecord,
  epoch: number,
  mode: { restorePath?: string; incoming: boolean },
): VcpuStart {
  // The vCPU worker opens the disk: never one a newer generation owns. (An incoming VMM's disk is
  // owned by the source until the commit; migrate-in.ts checks and claims it.)
  const ds = spec.diskStorage;
  if (ds && !mode.incoming) assertLeaseHeld(vmId, ds.leaseDir, epoch);
  // A restore is waited for like a migration's pause (the guest is down until it runs).
  const lowerRestore = mode.restorePath ? raiseGroupForRestore() : () => undefined;
  const memory = guestMemoryFor(spec.memoryBytes, spec.diskPath);
  // Frames go between the vCPU worker and the NIC thread directly, never through the main thread.
  const nicChannel = (spec.nics?.length ?? 0) > 0 ? new MessageChannel() : undefined;
  const events = new VcpuEventRelay();
  const vcpu = new Vcpu(spec, memory, mode.restorePath, events, {
    incoming: mode.incoming,
    ...(nicChannel ? { nic: nicChannel.port1 } : {}),
  });
  // Awaited by the VMM once it is loaded; a worker that fails sooner is no unhandled rejection.
  vcpu.ready.catch(() => undefined);
  return { memory, vcpu, events, nicPort: nicChannel?.port2, lowerRestore };
}
