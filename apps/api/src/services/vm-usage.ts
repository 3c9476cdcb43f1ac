import type { Db } from "../db/client.js";
import { isUuid } from "../http/refs.js";
import type { VmReport } from "../http/schemas.js";

export interface VmUsage {
  readonly vmId: string;
  readonly nodeId: string;
  readonly cpuShare: number;
  readonly memoryBytes: number;
}

/**
 * The per-VM usage the nodes' last heartbeats carried, kept in memory for /metrics: it changes
 * every second on every node, too often to write. Each heartbeat replaces its node's VMs, so a VM
 * gone from a node is gone from here; a silent node's VMs go after `staleMs`. With several API
 * replicas each shows the heartbeats it received (agents send theirs to one address).
 */
export class VmUsageBoard {
  private readonly byNode = new Map<string, { at: number; vms: VmUsage[] }>();

  constructor(private readonly staleMs: number) {}

  report(nodeId: string, vms: readonly VmReport[], now = Date.now()): void {
    this.byNode.set(nodeId, {
      at: now,
      vms: vms.map((v) => ({ vmId: v.vmId, nodeId, cpuShare: v.cpuShare ?? 0, memoryBytes: v.memoryBytes })),
    });
  }

  current(now = Date.now()): VmUsage[] {
    for (const [node, r] of this.byNode) if (now - r.at > this.staleMs) this.byNode.delete(node);
    return [...this.byNode.values()].flatMap((r) => r.vms);
  }

  /** The current VMs with their VPS's name (a VM the database does not know keeps its id). */
  async withNames(db: Db): Promise<(VmUsage & { name: string })[]> {
    const vms = this.current();
    if (vms.length === 0) return [];
    const rows = await db.vps.findMany({
      where: { id: { in: vms.map((v) => v.vmId).filter(isUuid) } },
      select: { id: true, name: true },
    });
    const names = new Map(rows.map((r) => [r.id, r.name]));
    return vms.map((v) => ({ ...v, name: names.get(v.vmId) ?? v.vmId }));
  }
}
