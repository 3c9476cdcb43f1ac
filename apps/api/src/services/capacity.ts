import type { Db } from "../db/client.js";
import { Prisma } from "../db/client.js";
import type { NodeLoad, PlacementPolicy } from "../domain/placement.js";

export type NodeReservation = NodeLoad["reserved"];

/**
 * Prisma `where` for nodes that, even empty, could hold a VPS of this size: enough cores for its
 * vCPUs (and for its CPU share at the policy's overcommit), memory and disk; fenced nodes never.
 */
export function couldHoldWhere(
  size: { vcpus: number; cpuShare: number; memoryBytes: bigint; diskBytes: bigint },
  policy: Pick<PlacementPolicy, "cpuOvercommit">,
) {
  const minCpus = Math.max(size.vcpus, Math.ceil(size.cpuShare / (100 * policy.cpuOvercommit)));
  return {
    cpus: { gte: minCpus },
    memoryBytes: { gte: size.memoryBytes },
    diskBytes: { gte: size.diskBytes },
    status: { not: "fenced" as const },
  };
}

/**
 * Advisory lock serializing every decision that reserves capacity (placement, migration targets)
 * cluster-wide: each sees the reservations of the previous one.
 */
export const PLACEMENT_LOCK = 0x5c1ff001;

type Queryable = Pick<Db, "$queryRaw">;

interface LoadRow {
  id: string;
  name: string;
  status: NodeLoad["status"];
  maintenance: boolean;
  cpus: number;
  memory_bytes: number;
  disk_bytes: number;
  vps_count: number;
  r_vcpus: number;
  r_cpu_share: number;
  r_memory: number;
  r_disk: number;
  group_members: number;
}

/**
 * What holds capacity on a node (node_id), one row per VPS and node: a VPS reserves its size on its
 * node from placement until it is deleted (stopped and suspended ones too: they must be able to
 * come back), and, while a live migration is in flight, on its target node as well.
 */
export const HELD = Prisma.sql`
  SELECT v.node_id, v.id, v.vcpus, v.cpu_share, v.memory_bytes, v.disk_bytes, v.placement_group_id
  FROM vps v WHERE v.state <> 'deleted' AND v.node_id IS NOT NULL
  UNION ALL
  SELECT m.target_node_id, v.id, v.vcpus, v.cpu_share, v.memory_bytes, v.disk_bytes, v.placement_group_id
  FROM migrations m JOIN vps v ON v.id = m.vps_id WHERE m.finished_at IS NULL`;

/**
 * Every node (or those of nodeIds) with what its VPSes reserve (HELD), in one query.
 */
export async function nodeLoads(
  db: Queryable,
  opts: { groupId?: string | null; nodeIds?: readonly string[] } = {},
): Promise<NodeLoad[]> {
  const group = opts.groupId ?? null;
  const only = opts.nodeIds?.length
    ? Prisma.sql`WHERE n.id IN (${Prisma.join(opts.nodeIds.map((id) => Prisma.sql`${id}::uuid`))})`
    : Prisma.empty;
  const rows = await db.$queryRaw<LoadRow[]>`
    WITH held AS (${HELD})
    SELECT n.id, n.name, n.status::text AS status, n.maintenance, n.cpus,
           n.memory_bytes::float8 AS memory_bytes, n.disk_bytes::float8 AS disk_bytes,
           COUNT(h.id)::int AS vps_count,
           COALESCE(SUM(h.vcpus), 0)::int AS r_vcpus,
           COALESCE(SUM(h.cpu_share), 0)::int AS r_cpu_share,
           COALESCE(SUM(h.memory_bytes), 0)::float8 AS r_memory,
           COALESCE(SUM(h.disk_bytes), 0)::float8 AS r_disk,
           COUNT(h.id) FILTER (WHERE h.placement_group_id = ${group}::uuid)::int AS group_members
    FROM nodes n
    LEFT JOIN held h ON h.node_id = n.id
    ${only}
    GROUP BY n.id
    ORDER BY n.name`;
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    status: r.status,
    maintenance: r.maintenance,
    cpus: r.cpus,
    memoryBytes: r.memory_bytes,
    diskBytes: r.disk_bytes,
    reserved: {
      vpsCount: r.vps_count,
      vcpus: r.r_vcpus,
      cpuShare: r.r_cpu_share,
      memoryBytes: r.r_memory,
      diskBytes: r.r_disk,
    },
    groupMembers: r.group_members,
  }));
}
