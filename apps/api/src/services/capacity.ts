import type { Db } from "../db/client.js";
import { Prisma } from "../db/client.js";
import type { NodeLoad } from "../domain/placement.js";

export type NodeReservation = NodeLoad["reserved"];

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
 * Every node with what its VPSes reserve, in one query. A VPS reserves its size on its node from
 * placement until it is deleted (stopped and suspended ones too: they must be able to come back).
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
    SELECT n.id, n.name, n.status::text AS status, n.maintenance, n.cpus,
           n.memory_bytes::float8 AS memory_bytes, n.disk_bytes::float8 AS disk_bytes,
           COUNT(v.id)::int AS vps_count,
           COALESCE(SUM(v.vcpus), 0)::int AS r_vcpus,
           COALESCE(SUM(v.cpu_share), 0)::int AS r_cpu_share,
           COALESCE(SUM(v.memory_bytes), 0)::float8 AS r_memory,
           COALESCE(SUM(v.disk_bytes), 0)::float8 AS r_disk,
           COUNT(v.id) FILTER (WHERE v.placement_group_id = ${group}::uuid)::int AS group_members
    FROM nodes n
    LEFT JOIN vps v ON v.node_id = n.id AND v.state <> 'deleted'
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
