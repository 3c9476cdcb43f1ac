/** ResizeVm: a stopped VM's memory, CPU cap and disk size change; its disk only grows. */
import { statSync, truncateSync } from "node:fs";
import { agentError } from "../errors.js";
import type { VmRef, VmRegistry, VmView } from "./registry.js";

export interface ResizeChange {
  /** 0 keeps the current value. */
  readonly memoryBytes: number;
  readonly cpuMillis: number;
  readonly diskBytes: number;
}

export async function resizeVm(registry: VmRegistry, ref: VmRef, change: ResizeChange): Promise<VmView> {
  await registry.withIdleVm(ref, async ({ record, update }) => {
    if (record.state === "suspended") {
      throw agentError(
        "INVALID_TRANSITION",
        `vm ${ref.vmId} is suspended: its RAM is in the snapshot; resume and stop it first`,
        {
          vmId: ref.vmId,
        },
      );
    }
    const spec = record.spec;
    const m = change.memoryBytes || spec.memoryBytes;
    if (m < 1 << 20 || m > 2 ** 31 || m % 4096 !== 0) {
      throw agentError(
        "INVALID_ARGUMENT",
        `memory_bytes must be a multiple of 4 KiB between 1 MiB and 2 GiB, got ${m}`,
      );
    }
    if (change.cpuMillis > 1000) throw agentError("INVALID_ARGUMENT", "cpu_millis must be 0..1000");
    let diskBytes = spec.diskBytes;
    if (change.diskBytes > 0) {
      if (spec.diskPath === "") throw agentError("INVALID_ARGUMENT", `vm ${ref.vmId} has no disk to resize`);
      const now = statSync(spec.diskPath).size;
      if (change.diskBytes < now) {
        throw agentError(
          "INVALID_ARGUMENT",
          `a disk only grows: ${change.diskBytes} bytes is below its ${now}`,
          {
            current: now,
          },
        );
      }
      // Sparse: the guest sees the larger device at its next boot; its filesystem grows when it is told to.
      truncateSync(spec.diskPath, change.diskBytes);
      diskBytes = change.diskBytes;
    }
    update({
      ...record,
      spec: { ...spec, memoryBytes: m, cpuMillis: change.cpuMillis || spec.cpuMillis, diskBytes },
    });
  });
  return registry.get(ref.vmId);
}
