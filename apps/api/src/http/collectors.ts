/**
 * What /metrics reports beyond the HTTP counters, computed at scrape time: the process itself,
 * the region from the database (VPSes, queues, nodes, migrations), and the per-VPS usage the
 * nodes' last heartbeats reported to this process.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Db } from "../db/client.js";
import type { BullQueues } from "../queues.js";
import { nodeLoads } from "../services/capacity.js";
import type { VmUsageBoard } from "../services/vm-usage.js";
import type { GaugeFamily, HistogramFamily } from "./metrics.js";

type Family = GaugeFamily | HistogramFamily;

const gauge = (name: string, help: string, value: number): GaugeFamily => ({
  name,
  help,
  samples: [{ labels: {}, value }],
});

/**
 * Event-loop lag (how late timers fire: every request waits behind it) and the heap. The lag
 * histogram restarts at each scrape, so its figures cover the time since the last one.
 */
export function processCollector(): { collect: () => Promise<Family[]>; stop: () => void } {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const collect = async (): Promise<Family[]> => {
    const mem = process.memoryUsage();
    const ns = 1e9;
    const out = [
      gauge(
        "skiff_process_event_loop_lag_p50_seconds",
        "event-loop lag, median since the last scrape",
        lag.percentile(50) / ns,
      ),
      gauge(
        "skiff_process_event_loop_lag_p99_seconds",
        "event-loop lag, 99th percentile since the last scrape",
        lag.percentile(99) / ns,
      ),
      gauge(
        "skiff_process_event_loop_lag_max_seconds",
        "event-loop lag, worst since the last scrape",
        lag.max / ns,
      ),
      gauge("skiff_process_heap_used_bytes", "V8 heap in use", mem.heapUsed),
      gauge("skiff_process_heap_total_bytes", "V8 heap reserved", mem.heapTotal),
      gauge("skiff_process_resident_bytes", "resident set size", mem.rss),
      gauge("skiff_process_uptime_seconds", "seconds since the process started", process.uptime()),
    ];
    lag.reset();
    return out;
  };
  return { collect, stop: () => lag.disable() };
}

/** Downtime buckets (ms) of a live migration's final stop-and-copy. */
export const DOWNTIME_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;

interface DowntimeRow {
  readonly count: number;
  readonly sum: number;
  readonly buckets: number[];
}

/** The region as the database has it: VPSes, queues, nodes (with heartbeat age), migrations. */
export function regionCollector(deps: {
  db: Db;
  queues: Partial<Pick<BullQueues, "counts">>;
  usage: VmUsageBoard;
}): () => Promise<Family[]> {
  const { db } = deps;
  return async () => {
    const now = Date.now();
    const [byState, loads, counts, nodes, outcomes, [downtime]] = await Promise.all([
      db.vps.groupBy({ by: ["state"], _count: true }),
      nodeLoads(db),
      deps.queues.counts?.() ?? Promise.resolve({} as Record<string, Record<string, number>>),
      db.node.findMany({
        select: {
          id: true,
          name: true,
          cpuPercent: true,
          memoryUsedBytes: true,
          vmCount: true,
          lastHeartbeatAt: true,
        },
      }),
      db.migration.groupBy({ by: ["state"], _count: true, where: { finishedAt: { not: null } } }),
      db.$queryRawUnsafe<DowntimeRow[]>(
        `SELECT COUNT(*)::int AS count, COALESCE(SUM(downtime_ms), 0)::float8 AS sum,
                ARRAY[${DOWNTIME_BUCKETS_MS.map((b) => `COUNT(*) FILTER (WHERE downtime_ms <= ${b})::int`).join(", ")}] AS buckets
         FROM migrations WHERE state = 'completed' AND downtime_ms IS NOT NULL`,
      ),
    ]);
    const perNode = (
      name: string,
      help: string,
      value: (l: (typeof loads)[number]) => number,
    ): GaugeFamily => ({
      name,
      help,
      samples: loads.map((l) => ({ labels: { node: l.name }, value: value(l) })),
    });
    const reported = (
      name: string,
      help: string,
      value: (n: (typeof nodes)[number]) => number,
    ): GaugeFamily => ({
      name,
      help,
      samples: nodes.map((n) => ({ labels: { node: n.name }, value: value(n) })),
    });
    const nodeName = new Map(nodes.map((n) => [n.id, n.name]));
    const vms = await deps.usage.withNames(db);
    const perVps = (name: string, help: string, value: (u: (typeof vms)[number]) => number): GaugeFamily => ({
      name,
      help,
      samples: vms.map((u) => ({
        labels: { vps: u.name, id: u.vmId, node: nodeName.get(u.nodeId) ?? u.nodeId },
        value: value(u),
      })),
    });
    return [
      {
        name: "skiff_vps",
        help: "VPSes by state",
        samples: byState.map((s) => ({ labels: { state: s.state }, value: s._count })),
      },
      {
        name: "skiff_queue_jobs",
        help: "BullMQ jobs by queue and state",
        samples: Object.entries(counts).flatMap(([queue, c]) =>
          Object.entries(c).map(([state, value]) => ({ labels: { queue, state }, value })),
        ),
      },
      perNode("skiff_node_up", "1 when the node is ready (heartbeating, not fenced)", (l) =>
        l.status === "ready" ? 1 : 0,
      ),
      perNode("skiff_node_maintenance", "1 when the node is drained", (l) => (l.maintenance ? 1 : 0)),
      perNode("skiff_node_vps", "VPSes placed on the node", (l) => l.reserved.vpsCount),
      perNode("skiff_node_memory_bytes", "node memory capacity", (l) => l.memoryBytes),
      perNode("skiff_node_memory_reserved_bytes", "memory reserved by VPSes", (l) => l.reserved.memoryBytes),
      perNode(
        "skiff_node_cpu_share_reserved",
        "CPU share reserved by VPSes (100 = one core)",
        (l) => l.reserved.cpuShare,
      ),
      reported("skiff_node_cpu_percent", "host CPU busy, from the last heartbeat", (n) => n.cpuPercent),
      reported("skiff_node_memory_used_bytes", "host memory used, from the last heartbeat", (n) =>
        Number(n.memoryUsedBytes),
      ),
      reported("skiff_node_vms", "VMs the agent runs, from the last heartbeat", (n) => n.vmCount),
      reported(
        "skiff_node_heartbeat_age_seconds",
        "seconds since the node's last heartbeat (-1: never)",
        (n) => (n.lastHeartbeatAt ? (now - n.lastHeartbeatAt.getTime()) / 1000 : -1),
      ),
      {
        name: "skiff_migrations_finished",
        help: "live migrations that ended, by outcome (completed, rolled-back, failed)",
        samples: outcomes.map((o) => ({ labels: { outcome: o.state }, value: o._count })),
      },
      {
        name: "skiff_migration_downtime_seconds",
        help: "downtime of completed live migrations (the final stop-and-copy)",
        buckets: DOWNTIME_BUCKETS_MS.map((ms) => ms / 1000),
        series: downtime
          ? [{ labels: {}, counts: downtime.buckets, sum: downtime.sum / 1000, count: downtime.count }]
          : [],
      },
      perVps(
        "skiff_vps_cpu_cores",
        "CPU the VPS's VM used (1 = one core busy), from its node's last heartbeat",
        (u) => u.cpuShare,
      ),
      perVps(
        "skiff_vps_memory_bytes",
        "memory the VPS's VM holds, from its node's last heartbeat",
        (u) => u.memoryBytes,
      ),
    ];
  };
}
