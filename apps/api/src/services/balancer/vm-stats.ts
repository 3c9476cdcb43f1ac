/**
 * What each node last reported about its VMs (from registrations and heartbeats), kept in Redis:
 * the measured CPU share and dirty-page rate per VM, smoothed, and the list of VMs the node holds.
 * The balancer weighs load with it; failure recovery reads it to know a returning node is clean.
 * Ephemeral by design: it expires when a node stops reporting, and is rebuilt by the next beats.
 */
import type { Redis } from "ioredis";

export interface ReportedVm {
  readonly vmId: string;
  readonly epoch: number;
  readonly state: string;
  /** Host cores busy, smoothed. */
  readonly cpu: number;
  /** Guest pages dirtied per second, smoothed. */
  readonly dirty: number;
}

export interface NodeReport {
  readonly nodeId: string;
  /** When it was received (ms since epoch). */
  readonly at: number;
  readonly vms: readonly ReportedVm[];
}

export interface IncomingVm {
  readonly vmId: string;
  readonly epoch: number;
  readonly state: string;
  readonly cpuShare?: number;
  readonly dirtyPagesPerSec?: number;
}

const KEY = (nodeId: string) => `skiff:vmstats:${nodeId}`;
/** Weight of a new sample: about the last 5 beats count (rates jitter from beat to beat). */
const ALPHA = 0.3;

export class VmStatsStore {
  constructor(
    private readonly redis: Redis,
    /** Reports older than this are gone (the node stopped beating). */
    private readonly ttlMs = 10 * 60_000,
  ) {}

  async record(nodeId: string, vms: readonly IncomingVm[], now = Date.now()): Promise<void> {
    const prev = await this.get(nodeId);
    const old = new Map(prev?.vms.map((v) => [v.vmId, v]));
    const report: NodeReport = {
      nodeId,
      at: now,
      vms: vms.map((v) => {
        const p = old.get(v.vmId);
        const cpu = v.cpuShare ?? 0;
        const dirty = v.dirtyPagesPerSec ?? 0;
        return {
          vmId: v.vmId,
          epoch: v.epoch,
          state: v.state,
          cpu: p ? p.cpu + ALPHA * (cpu - p.cpu) : cpu,
          dirty: p ? p.dirty + ALPHA * (dirty - p.dirty) : dirty,
        };
      }),
    };
    await this.redis.set(KEY(nodeId), JSON.stringify(report), "PX", this.ttlMs);
  }

  async get(nodeId: string): Promise<NodeReport | null> {
    const raw = await this.redis.get(KEY(nodeId));
    return raw ? (JSON.parse(raw) as NodeReport) : null;
  }

  /** The latest report of each of these nodes (absent when there is none). */
  async many(nodeIds: readonly string[]): Promise<Map<string, NodeReport>> {
    const out = new Map<string, NodeReport>();
    for (let i = 0; i < nodeIds.length; i += 500) {
      const ids = nodeIds.slice(i, i + 500);
      if (ids.length === 0) break;
      const raws = await this.redis.mget(ids.map(KEY));
      raws.forEach((raw, k) => {
        if (raw) out.set(ids[k]!, JSON.parse(raw) as NodeReport);
      });
    }
    return out;
  }
}
