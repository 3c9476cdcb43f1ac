/**
 * Builds the planner's ClusterModel from the database (nodes, VPSes, placement groups, migrations
 * in flight and recent ones) and the nodes' latest reports (measured CPU and dirty rates).
 */
import type { Db } from "../../db/client.js";
import type { BalancerVps, ClusterModel, InFlightMigration } from "./model.js";
import type { VmStatsStore } from "./vm-stats.js";

type Reader = Pick<Db, "node" | "vps" | "placementGroup" | "migration">;

export interface LoadOptions {
  readonly now: number;
  /** Migrations started within this window count for the per-VPS cooldown. */
  readonly cooldownMs: number;
}

export async function loadCluster(db: Reader, stats: VmStatsStore, opts: LoadOptions): Promise<ClusterModel> {
  const [nodes, vpses, inFlight, recent] = await Promise.all([
    db.node.findMany({
      select: {
        id: true,
        name: true,
        status: true,
        maintenance: true,
        cpus: true,
        memoryBytes: true,
        diskBytes: true,
        storageId: true,
      },
      orderBy: { name: "asc" },
    }),
    db.vps.findMany({
      where: { nodeId: { not: null }, state: { not: "deleted" } },
      select: {
        id: true,
        name: true,
        nodeId: true,
        state: true,
        action: true,
        vcpus: true,
        memoryBytes: true,
        diskBytes: true,
        diskStorageId: true,
        cpuShare: true,
        placementGroupId: true,
      },
    }),
    db.migration.findMany({
      where: { finishedAt: null },
      select: { vpsId: true, sourceNodeId: true, targetNodeId: true },
    }),
    db.migration.groupBy({
      by: ["vpsId"],
      where: { createdAt: { gte: new Date(opts.now - opts.cooldownMs) } },
      _max: { createdAt: true },
    }),
  ]);
  const groupIds = [...new Set(vpses.map((v) => v.placementGroupId).filter((g): g is string => g !== null))];
  const groups = groupIds.length
    ? await db.placementGroup.findMany({
        where: { id: { in: groupIds } },
        select: { id: true, policy: true, strict: true },
      })
    : [];
  const reports = await stats.many(nodes.map((n) => n.id));
  const measured = new Map<string, { cpu: number; dirty: number }>();
  for (const r of reports.values()) for (const vm of r.vms) measured.set(vm.vmId, vm);
  const lastMigrated = new Map(recent.map((r) => [r.vpsId, r._max.createdAt?.getTime() ?? null]));

  return {
    nodes: nodes.map((n) => ({
      ...n,
      memoryBytes: Number(n.memoryBytes),
      diskBytes: Number(n.diskBytes),
    })),
    vpses: vpses.map(
      (v): BalancerVps => ({
        id: v.id,
        name: v.name,
        nodeId: v.nodeId!,
        vcpus: v.vcpus,
        memoryBytes: Number(v.memoryBytes),
        diskBytes: Number(v.diskBytes),
        diskStorageId: v.diskStorageId,
        cpuShare: v.cpuShare,
        cpuUsed: measured.get(v.id)?.cpu ?? 0,
        dirtyPagesPerSec: measured.get(v.id)?.dirty ?? 0,
        groupId: v.placementGroupId,
        movable: (v.state === "running" || v.state === "paused") && v.action === null,
        coldMovable: (v.state === "stopped" || v.state === "suspended") && v.action === null,
        state: v.state,
        action: v.action,
        lastMigratedAt: lastMigrated.get(v.id) ?? null,
      }),
    ),
    groups,
    inFlight: inFlight satisfies InFlightMigration[],
  };
}
