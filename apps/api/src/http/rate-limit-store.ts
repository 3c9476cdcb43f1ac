import type { Redis } from "ioredis";

/**
 * The rate limiter's counter per key and window lives in Redis, shared by every API replica; this
 * store takes it in batches instead of one Redis call per request. A process reserves the next
 * `batchSize(max)` request numbers of the window with one INCRBY and hands them out locally; a
 * request is allowed while its number is at most the limit. No number is given twice, so no
 * replica ever lets more than the limit through; numbers a replica reserved and did not use before
 * the window ended are lost, so a client can be refused up to (batch - 1) requests early per
 * replica and window. A batch is at most 1 % of the limit (none below 200 a minute): exact enough.
 * Requests that find the batch spent while a reservation is on its way wait for it rather than
 * each reserving a batch of their own: a burst of 16 would otherwise take 16 batches for 16
 * requests and refuse the client long before its limit.
 */
const RESERVE = `
local last = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {last, ttl}`;

export const batchSize = (max: number): number => Math.max(1, Math.floor(max / 100));

interface Batch {
  next: number;
  readonly last: number;
  /** The window's end as this process knows it: never later than Redis's. */
  readonly expiresAt: number;
}

type Reserve = (key: string, n: number, windowMs: number) => Promise<[number, number]>;
type Callback = (err: Error | null, res?: { current: number; ttl: number }) => void;

/** How many expired batches may pile up (keys seen once) before a sweep. */
const SWEEP_AT = 10_000;

export class BatchedRedisStore {
  private readonly batches = new Map<string, Batch>();
  /** The reservation on its way per key, when batches are taken (n > 1). */
  private readonly reserving = new Map<string, Promise<void>>();
  private readonly reserve: Reserve;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    if (!("skiffRateReserve" in redis))
      redis.defineCommand("skiffRateReserve", { numberOfKeys: 1, lua: RESERVE });
    const r = redis as unknown as { skiffRateReserve: Reserve };
    this.reserve = (key, n, windowMs) => r.skiffRateReserve(key, n, windowMs);
  }

  /** @fastify/rate-limit's store interface: the request's number in the window, and the window's rest. */
  incr(key: string, cb: Callback, timeWindow: number, max: number): void {
    const now = Date.now();
    const b = this.batches.get(key);
    if (b && b.next <= b.last && now < b.expiresAt) {
      cb(null, { current: b.next++, ttl: b.expiresAt - now });
      return;
    }
    const n = batchSize(max);
    const onItsWay = this.reserving.get(key);
    if (onItsWay) {
      void onItsWay.then(() => this.incr(key, cb, timeWindow, max));
      return;
    }
    const reserved = this.reserve(this.prefix + key, n, timeWindow).then(([last, ttl]) => {
      const first = last - n + 1;
      if (n > 1) {
        if (this.batches.size >= SWEEP_AT) this.sweep(now);
        this.batches.set(key, { next: first + 1, last, expiresAt: now + ttl });
      } else {
        this.batches.delete(key);
      }
      cb(null, { current: first, ttl });
    }, cb);
    if (n > 1) {
      // Waiters go on whatever happened to it (a failed reservation: each tries its own).
      const done = (): void => void this.reserving.delete(key);
      this.reserving.set(key, reserved.then(done, done));
    }
  }

  child(): BatchedRedisStore {
    throw new Error("per-route rate limits are not used: one app-level limit");
  }

  private sweep(now: number): void {
    for (const [key, b] of this.batches) if (b.next > b.last || now >= b.expiresAt) this.batches.delete(key);
  }
}
