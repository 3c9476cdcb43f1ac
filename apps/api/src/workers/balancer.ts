/**
 * The balancer as a repeatable BullMQ job. Every API replica runs a worker and upserts the same
 * job scheduler (fixed id), so there is one schedule cluster-wide; a Redis lock makes sure two
 * rounds never overlap even if one runs longer than the interval and another replica picks up the
 * next. A round: fence dead nodes and recover their VPSes, then drains, then balancing.
 */
import { randomUUID } from "node:crypto";
import { errorMessage } from "@skiff/common";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { loadBalancerConfig } from "../config.js";
import { type BullQueues, QUEUE_NAMES } from "../queues.js";
import { type RecoveryDeps, type RecoveryResult, runRecovery } from "../services/balancer/recovery.js";
import {
  type BalancerDeps,
  type MigrationLauncher,
  type RoundResult,
  runRound,
} from "../services/balancer/round.js";
import { VmStatsStore } from "../services/balancer/vm-stats.js";
import { SYSTEM } from "../services/events.js";
import { requestMigration } from "../services/migrations.js";
import type { WorkerContext } from "./context.js";

export interface BalancerWorkerOptions {
  /** The node-health deadline (SKIFF_NODE_DEAD_AFTER_MS). */
  readonly deadAfterMs: number;
  /** Defaults from the environment (balancerSpec in config.ts). */
  readonly intervalMs?: number;
  readonly fenceAfterMs?: number;
}

export type TickDeps = BalancerDeps & RecoveryDeps;

export interface TickResult {
  readonly recovery: RecoveryResult;
  readonly round: RoundResult;
}

/** One round, recovery first: a dead node's VPSes matter more than an even spread. */
export async function balancerTick(deps: TickDeps, now = Date.now()): Promise<TickResult> {
  const recovery = await runRecovery(deps, now);
  const round = await runRound(deps, now);
  return { recovery, round };
}

/** The migration service as the balancer calls it. */
export function migrationLauncher(ctx: WorkerContext, queues: BullQueues): MigrationLauncher {
  return {
    async launch(r) {
      const m = await requestMigration({ ...ctx, queues }, { ...r, actor: SYSTEM });
      return { migrationId: m.id };
    },
  };
}

const UNLOCK = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

/** Runs `fn` unless another holder has the lock (then returns undefined). */
export async function withLock<T>(
  redis: Redis,
  key: string,
  ttlMs: number,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  const token = randomUUID();
  if ((await redis.set(key, token, "PX", ttlMs, "NX")) !== "OK") return undefined;
  try {
    return await fn();
  } finally {
    await redis.eval(UNLOCK, 1, key, token).catch(() => undefined);
  }
}

export async function startBalancerWorker(
  ctx: WorkerContext,
  queues: BullQueues,
  opts: BalancerWorkerOptions,
): Promise<Worker> {
  const env = loadBalancerConfig();
  const intervalMs = opts.intervalMs ?? env.intervalMs;
  const connection = { url: queues.options.redisUrl, maxRetriesPerRequest: null };
  const prefix = queues.options.prefix ?? "skiff";
  const redis = new Redis(queues.options.redisUrl, { maxRetriesPerRequest: 3 });
  redis.on("error", (err) => ctx.log.warn({ err: err.message }, "balancer redis"));
  const deps: TickDeps = {
    ...ctx,
    stats: new VmStatsStore(redis),
    migrations: migrationLauncher(ctx, queues),
    enqueueProvision: (job) => queues.enqueueProvision(job),
    deadAfterMs: opts.deadAfterMs,
    fenceAfterMs: opts.fenceAfterMs ?? env.fenceAfterMs,
  };
  const lockKey = `${prefix}:balancer:lock`;
  const worker = new Worker(
    QUEUE_NAMES.balancer,
    async () => {
      const r = await withLock(redis, lockKey, Math.max(60_000, intervalMs * 4), () => balancerTick(deps));
      if (!r) return { skipped: "another round is running" };
      return {
        fenced: r.recovery.fenced.length,
        restarted: r.recovery.restarted.length,
        drain: r.round.drain.launched.length,
        balance: r.round.balance?.launched.length ?? null,
      };
    },
    { connection, prefix, concurrency: 1, lockDuration: 60_000 },
  );
  worker.on("failed", (_job, err) => ctx.log.warn({ err: errorMessage(err) }, "balancer round failed"));
  await queues.scheduleBalancer(intervalMs);
  worker.on("closed", () => redis.disconnect());
  return worker;
}
