import { DelayedError, type Job, Worker } from "bullmq";
import {
  type BullQueues,
  type DestroyStaleJob,
  type LifecycleJob,
  type MaintenanceJobName,
  type MigrationJob,
  type ProvisionJob,
  QUEUE_NAMES,
} from "../queues.js";
import { startBalancerWorker } from "./balancer.js";
import type { Attempt, WorkerContext } from "./context.js";
import { runLifecycle } from "./lifecycle.js";
import {
  collectIdempotencyKeys,
  destroyStaleVm,
  type MaintenanceDeps,
  reconcileOrphans,
} from "./maintenance.js";
import { runMigration } from "./migration.js";
import { runProvision } from "./provision.js";

export interface RunningWorkers {
  readonly workers: readonly Worker[];
  close(): Promise<void>;
}

const attemptOf = (job: Job): Attempt => ({ number: job.attemptsMade + 1, max: job.opts.attempts ?? 1 });

export interface WorkerOptions {
  readonly concurrency?: { provision?: number; lifecycle?: number; migration?: number };
  /** In-flight live migrations per node (SKIFF_MIGRATIONS_PER_NODE). */
  readonly migrationsPerNode?: number;
  /** A worker's lock on a job between renewals (SKIFF_JOB_LOCK_MS). */
  readonly jobLockMs?: number;
  /** How often each repeatable maintenance job runs. */
  readonly everyMs?: { nodeHealth: number; reconcile: number; idempotencyGc: number };
}

/** Starts the BullMQ workers of every queue in this process. */
export async function startWorkers(
  ctx: WorkerContext,
  queues: BullQueues,
  maintenance: MaintenanceDeps,
  opts: WorkerOptions = {},
): Promise<RunningWorkers> {
  const connection = { url: queues.options.redisUrl, maxRetriesPerRequest: null };
  const prefix = queues.options.prefix ?? "skiff";
  // A job whose worker died is taken up again after its lock lapses (lockDuration) and the next
  // stalled-job check: 20-30 s by default instead of BullMQ's 30-60 s.
  const lockDuration = opts.jobLockMs ?? 20_000;
  const recovery = { lockDuration, stalledInterval: Math.ceil(lockDuration / 2) };
  const provision = new Worker<ProvisionJob>(
    QUEUE_NAMES.provision,
    async (job) => runProvision(ctx, job.data, attemptOf(job)),
    { connection, prefix, ...recovery, concurrency: opts.concurrency?.provision ?? 8 },
  );
  const lifecycle = new Worker<LifecycleJob>(
    QUEUE_NAMES.lifecycle,
    async (job) => runLifecycle(ctx, job.data, attemptOf(job)),
    { connection, prefix, ...recovery, concurrency: opts.concurrency?.lifecycle ?? 16 },
  );
  const migration = new Worker<MigrationJob>(
    QUEUE_NAMES.migration,
    async (job, token) => {
      const r = await runMigration(ctx, job.data, attemptOf(job), { perNode: opts.migrationsPerNode ?? 2 });
      if (r === "wait") {
        // Its nodes have no free slot: try again shortly, without spending an attempt.
        await job.moveToDelayed(Date.now() + 2000, token);
        throw new DelayedError();
      }
      return r;
    },
    { connection, prefix, ...recovery, concurrency: opts.concurrency?.migration ?? 8 },
  );
  const maint = new Worker(
    QUEUE_NAMES.maintenance,
    async (job) => {
      switch (job.name as MaintenanceJobName) {
        case "node-health":
          return (await maintenance.nodes.markSilentNodes(maintenance.nodeDeadAfterMs)).length;
        case "reconcile":
          return reconcileOrphans(ctx, queues);
        case "idempotency-gc":
          return collectIdempotencyKeys(ctx);
        case "destroy-stale":
          return destroyStaleVm(ctx, job.data as DestroyStaleJob);
        default:
          ctx.log.warn({ job: job.name }, "unknown maintenance job");
          return undefined;
      }
    },
    { connection, prefix, ...recovery, concurrency: 4 },
  );
  const workers = [provision, lifecycle, migration, maint] as Worker[];
  workers.push(await startBalancerWorker(ctx, queues, { deadAfterMs: maintenance.nodeDeadAfterMs }));
  for (const w of workers) {
    w.on("failed", (job, err) =>
      ctx.log.warn(
        { queue: w.name, job: job?.id, attempt: job?.attemptsMade, err: err.message },
        "job failed",
      ),
    );
    w.on("error", (err) => ctx.log.error({ queue: w.name, err: err.message }, "worker error"));
  }
  await queues.schedule(opts.everyMs ?? { nodeHealth: 2000, reconcile: 30_000, idempotencyGc: 3_600_000 });
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
