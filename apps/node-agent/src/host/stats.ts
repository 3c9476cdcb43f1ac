import { statfsSync } from "node:fs";
import { availableParallelism, cpus, freemem, totalmem } from "node:os";

export interface HostCapacity {
  readonly cpus: number;
  readonly memoryBytes: number;
  readonly diskBytes: number;
}

export interface HostUsage {
  /** Busy share of all cores since the previous sample, 0..100. */
  readonly cpuPercent: number;
  readonly memoryUsedBytes: number;
  readonly diskUsedBytes: number;
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    const all = t.user + t.nice + t.sys + t.idle + t.irq;
    total += all;
    busy += all - t.idle;
  }
  return { busy, total };
}

/** The host's capacity and load, as the agent reports them. */
export class HostStats {
  private last = cpuTimes();
  private lastPercent = 0;

  /** `offered` overrides what is measured (0 = measure), so several agents can share one host. */
  constructor(
    private readonly dataDir: string,
    private readonly offered: Partial<HostCapacity> = {},
  ) {}

  capacity(): HostCapacity {
    const fs = statfsSync(this.dataDir);
    return {
      cpus: this.offered.cpus || availableParallelism(),
      memoryBytes: this.offered.memoryBytes || totalmem(),
      diskBytes: this.offered.diskBytes || fs.blocks * fs.bsize,
    };
  }

  /** CPU is measured between calls; calls closer than 200 ms apart reuse the previous figure. */
  usage(): HostUsage {
    const now = cpuTimes();
    const dTotal = now.total - this.last.total;
    if (dTotal >= 200 * cpus().length) {
      this.lastPercent = Math.max(0, Math.min(100, (100 * (now.busy - this.last.busy)) / dTotal));
      this.last = now;
    }
    const fs = statfsSync(this.dataDir);
    return {
      cpuPercent: this.lastPercent,
      memoryUsedBytes: totalmem() - freemem(),
      diskUsedBytes: (fs.blocks - fs.bfree) * fs.bsize,
    };
  }
}
