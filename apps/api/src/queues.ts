import { Queue } from "bullmq";
import type { VpsAction } from "./domain/vps-state.js";

/**
 * The BullMQ queues. Jobs carry ids only; workers read the current row, so a job that runs late
 * or twice acts on the truth. Job ids are the action ids, so enqueueing twice is harmless.
 */
export const QUEUE_NAMES = {
  provision: "provision",
  lifecycle: "lifecycle",
  migration: "migration",
  maintenance: "maintenance",
} as const;

export interface ProvisionJob {
  readonly vpsId: string;
  readonly actionId: string;
}

export interface LifecycleJob {
  readonly vpsId: string;
  readonly action: VpsAction | "delete";
  readonly actionId: string;
}

export interface MigrationJob {
  readonly migrationId: string;
}

export type MaintenanceJobName = "node-health" | "reconcile" | "idempotency-gc";

/** How often a job may be tried, and the pause between tries (exponential from `delayMs`). */
export const RETRY = {
  provision: { attempts: 6, delayMs: 1000 },
  lifecycle: { attempts: 5, delayMs: 500 },
  // Retries only reconstruct the outcome of a run that died; they never start a second transfer.
  migration: { attempts: 8, delayMs: 2000 },
} as const;

export interface JobQueues {
  enqueueProvision(job: ProvisionJob): Promise<void>;
  enqueueLifecycle(job: LifecycleJob): Promise<void>;
  enqueueMigration(job: MigrationJob): Promise<void>;
}

export interface QueueOptions {
  readonly redisUrl: string;
  /** Key prefix in Redis (tests give each run its own). */
  readonly prefix?: string;
}

export class BullQueues implements JobQueues {
  readonly provision: Queue<ProvisionJob>;
  readonly lifecycle: Queue<LifecycleJob>;
  readonly migration: Queue<MigrationJob>;
  readonly maintenance: Queue;

  constructor(readonly options: QueueOptions) {
    const base = { connection: { url: options.redisUrl }, prefix: options.prefix ?? "skiff" };
    this.provision = new Queue<ProvisionJob>(QUEUE_NAMES.provision, base);
    this.lifecycle = new Queue<LifecycleJob>(QUEUE_NAMES.lifecycle, base);
    this.migration = new Queue<MigrationJob>(QUEUE_NAMES.migration, base);
    this.maintenance = new Queue(QUEUE_NAMES.maintenance, base);
  }

  get all(): Queue[] {
    return [this.provision, this.lifecycle, this.migration, this.maintenance] as Queue[];
  }

  async enqueueProvision(job: ProvisionJob): Promise<void> {
    await this.provision.add("provision", job, {
      jobId: job.actionId,
      attempts: RETRY.provision.attempts,
      backoff: { type: "exponential", delay: RETRY.provision.delayMs },
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    });
  }

  async enqueueLifecycle(job: LifecycleJob): Promise<void> {
    await this.lifecycle.add(job.action, job, {
      jobId: job.actionId,
      attempts: RETRY.lifecycle.attempts,
      backoff: { type: "exponential", delay: RETRY.lifecycle.delayMs },
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    });
  }

  async enqueueMigration(job: MigrationJob): Promise<void> {
    await this.migration.add("migrate", job, {
      jobId: job.migrationId,
      attempts: RETRY.migration.attempts,
      backoff: { type: "exponential", delay: RETRY.migration.delayMs },
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    });
  }

  /** Repeatable jobs (one schedule cluster-wide however many API replicas start). */
  async schedule(everyMs: { nodeHealth: number; reconcile: number; idempotencyGc: number }): Promise<void> {
    const add = (name: MaintenanceJobName, every: number) =>
      this.maintenance.upsertJobScheduler(
        name,
        { every },
        { name, data: {}, opts: { removeOnComplete: 100, removeOnFail: 100 } },
      );
    await add("node-health", everyMs.nodeHealth);
    await add("reconcile", everyMs.reconcile);
    await add("idempotency-gc", everyMs.idempotencyGc);
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const q of this.all) {
      out[q.name] = await q.getJobCounts("waiting", "active", "delayed", "failed", "completed");
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((q) => q.close()));
  }
}
