import { Queue } from "bullmq";
import type { VpsChange } from "./domain/vps-changes.js";
import type { VpsAction } from "./domain/vps-state.js";

/**
 * The BullMQ queues, their job names and options: every queue and job of the API is named here
 * and nowhere else. Jobs carry ids only; workers read the current row, so a job that runs late
 * or twice acts on the truth. Job ids are the action ids, so enqueueing twice is harmless.
 */
export const QUEUE_NAMES = {
  provision: "provision",
  lifecycle: "lifecycle",
  migration: "migration",
  maintenance: "maintenance",
  balancer: "balancer",
} as const;

export interface ProvisionJob {
  readonly vpsId: string;
  readonly actionId: string;
}

export interface LifecycleJob {
  readonly vpsId: string;
  readonly action: VpsAction | "delete" | VpsChange;
  readonly actionId: string;
  /** resize: the plan it grows to; rebuild: the image its disk is made from. */
  readonly planId?: string;
  readonly imageId?: string;
  /** snapshot, restore-snapshot: which one. */
  readonly snapshotId?: string;
}

export interface MigrationJob {
  readonly migrationId: string;
}

/** A VM a node still runs for a VPS that is now elsewhere or gone: destroyed on that node. */
export interface DestroyStaleJob {
  readonly nodeId: string;
  readonly vmId: string;
  readonly epoch: number;
}

export const MAINTENANCE_JOBS = ["node-health", "reconcile", "idempotency-gc", "destroy-stale"] as const;
export type MaintenanceJobName = (typeof MAINTENANCE_JOBS)[number];

/** The balancer's one schedule: every replica upserts this id, BullMQ keeps one. */
export const BALANCER_SCHEDULER_ID = "balancer-round";

/**
 * How often a job may be tried, and the pause before its first retry (exponential from there), for a
 * base pause `backoffMs` (SKIFF_JOB_BACKOFF_MS): with the default 1 s a VPS waits about 31 s for
 * capacity before it goes to error.
 */
export function retryPolicy(backoffMs = 1000) {
  return {
    provision: { attempts: 6, delayMs: backoffMs },
    lifecycle: { attempts: 5, delayMs: backoffMs / 2 },
    // Retries only reconstruct the outcome of a run that died; they never start a second transfer.
    migration: { attempts: 8, delayMs: backoffMs * 2 },
  } as const;
}
export type RetryPolicy = ReturnType<typeof retryPolicy>;

export interface JobQueues {
  enqueueProvision(job: ProvisionJob): Promise<void>;
  enqueueLifecycle(job: LifecycleJob): Promise<void>;
  enqueueMigration(job: MigrationJob): Promise<void>;
}

/** A retried job's options: its id (the action's), tries and backoff, and how much history stays. */
function retried(jobId: string, retry: { attempts: number; delayMs: number }) {
  return {
    jobId,
    attempts: retry.attempts,
    backoff: { type: "exponential", delay: retry.delayMs },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
}

export interface QueueOptions {
  readonly redisUrl: string;
  /** Key prefix in Redis (tests give each run its own). */
  readonly prefix?: string;
  /** Base pause between a job's tries (SKIFF_JOB_BACKOFF_MS). */
  readonly backoffMs?: number;
}

export class BullQueues implements JobQueues {
  readonly provision: Queue<ProvisionJob>;
  readonly lifecycle: Queue<LifecycleJob>;
  readonly migration: Queue<MigrationJob>;
  readonly maintenance: Queue;

  private readonly base: { connection: { url: string }; prefix: string };
  private readonly retry: RetryPolicy;

  constructor(readonly options: QueueOptions) {
    const base = { connection: { url: options.redisUrl }, prefix: options.prefix ?? "skiff" };
    this.base = base;
    this.retry = retryPolicy(options.backoffMs);
    this.provision = new Queue<ProvisionJob>(QUEUE_NAMES.provision, base);
    this.lifecycle = new Queue<LifecycleJob>(QUEUE_NAMES.lifecycle, base);
    this.migration = new Queue<MigrationJob>(QUEUE_NAMES.migration, base);
    this.maintenance = new Queue(QUEUE_NAMES.maintenance, base);
  }

  get all(): Queue[] {
    return [this.provision, this.lifecycle, this.migration, this.maintenance] as Queue[];
  }

  async enqueueProvision(job: ProvisionJob): Promise<void> {
    await this.provision.add("provision", job, retried(job.actionId, this.retry.provision));
  }

  async enqueueLifecycle(job: LifecycleJob): Promise<void> {
    await this.lifecycle.add(job.action, job, retried(job.actionId, this.retry.lifecycle));
  }

  async enqueueMigration(job: MigrationJob): Promise<void> {
    await this.migration.add("migrate", job, retried(job.migrationId, this.retry.migration));
  }

  /** One job per VM and epoch however often nodes report it. */
  async enqueueDestroyStale(job: DestroyStaleJob): Promise<void> {
    const name: MaintenanceJobName = "destroy-stale";
    await this.maintenance.add(name, job, {
      jobId: `stale-${job.nodeId}-${job.vmId}-${job.epoch}`,
      attempts: 3,
      backoff: { type: "exponential", delay: 1000 },
      removeOnComplete: true,
      removeOnFail: 100,
    });
  }

  /** The balancer's round, every `everyMs` (one schedule cluster-wide). */
  async scheduleBalancer(everyMs: number): Promise<void> {
    const queue = new Queue(QUEUE_NAMES.balancer, this.base);
    try {
      await queue.upsertJobScheduler(
        BALANCER_SCHEDULER_ID,
        { every: everyMs },
        { name: "round", data: {}, opts: { removeOnComplete: 50, removeOnFail: 50 } },
      );
    } finally {
      await queue.close();
    }
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
