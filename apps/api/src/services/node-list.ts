import { type Db, type Node, Prisma } from "../db/client.js";
import type { NodeDtoRow } from "../http/dto.js";
import type { Cursor } from "../http/pagination.js";
import { HELD, type NodeReservation } from "./capacity.js";

export interface NodeListFilter {
  readonly status?: Node["status"];
  readonly maintenance?: boolean;
  /** Rows after this (registeredAt, id) cursor. */
  readonly after?: Cursor;
  /** Rows to fetch (a page's limit + 1 tells whether there is a next page). */
  readonly take: number;
}

/** A node's columns and what its VPSes reserve (reservationOf). */
export interface NodeListRow extends NodeDtoRow {
  readonly r_vps_count: number;
  readonly r_vcpus: number;
  readonly r_cpu_share: number;
  readonly r_memory: number;
  readonly r_disk: number;
}

export const reservationOf = (r: NodeListRow): NodeReservation => ({
  vpsCount: r.r_vps_count,
  vcpus: r.r_vcpus,
  cpuShare: r.r_cpu_share,
  memoryBytes: r.r_memory,
  diskBytes: r.r_disk,
});

/**
 * A page of nodes, oldest registration first, each with what its VPSes reserve, in one query: a
 * list request is one database round trip, and only the page's nodes have their reservations
 * summed (through vps(node_id)).
 */
export async function listNodes(db: Pick<Db, "$queryRaw">, f: NodeListFilter): Promise<NodeListRow[]> {
  const where: Prisma.Sql[] = [];
  if (f.status) where.push(Prisma.sql`n.status = ${f.status}::node_status`);
  if (f.maintenance !== undefined) where.push(Prisma.sql`n.maintenance = ${f.maintenance}`);
  if (f.after) {
    const t = new Date(f.after.t);
    where.push(
      Prisma.sql`(n.registered_at > ${t}::timestamptz OR (n.registered_at = ${t}::timestamptz AND n.id > ${f.after.id}::uuid))`,
    );
  }
  return db.$queryRaw<NodeListRow[]>`
    WITH page AS (
      SELECT * FROM nodes n
      ${where.length ? Prisma.sql`WHERE ${Prisma.join(where, " AND ")}` : Prisma.empty}
      ORDER BY n.registered_at, n.id
      LIMIT ${f.take}
    )
    SELECT p.id, p.name, p.grpc_address AS "grpcAddress", p.cpus, p.memory_bytes AS "memoryBytes",
           p.disk_bytes AS "diskBytes", p.labels, p.storage_backend::text AS "storageBackend",
           p.storage_id AS "storageId", p.agent_version AS "agentVersion", p.status::text AS status,
           p.maintenance, p.cpu_percent AS "cpuPercent", p.memory_used_bytes AS "memoryUsedBytes",
           p.vm_count AS "vmCount", p.last_heartbeat_at AS "lastHeartbeatAt", p.overlay_host AS "overlayHost",
           p.overlay_port AS "overlayPort", p.network_map_version AS "networkMapVersion",
           p.registered_at AS "registeredAt",
           r.*
    FROM page p
    CROSS JOIN LATERAL (
      SELECT COUNT(h.id)::int AS r_vps_count,
             COALESCE(SUM(h.vcpus), 0)::int AS r_vcpus,
             COALESCE(SUM(h.cpu_share), 0)::int AS r_cpu_share,
             COALESCE(SUM(h.memory_bytes), 0)::float8 AS r_memory,
             COALESCE(SUM(h.disk_bytes), 0)::float8 AS r_disk
      FROM (${HELD}) h WHERE h.node_id = p.id
    ) r
    ORDER BY p.registered_at, p.id`;
}
