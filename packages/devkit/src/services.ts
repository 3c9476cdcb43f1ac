import { join } from "node:path";
import { type PostgresServer, startPostgres } from "./postgres.js";
import { type RedisServer, startRedis } from "./redis.js";
import { makeTempDir } from "./temp.js";

export interface TestServices {
  readonly redis: RedisServer;
  readonly postgres: PostgresServer;
  readonly dir: string;
  stop(): Promise<void>;
}

/**
 * Throwaway Redis + PostgreSQL for integration tests, on free ports in a temp dir. Call `stop()`
 * in afterAll. If the test process ends first (a crash, a timeout, kill -9), the servers are
 * stopped all the same: each runs in its own process group, watched by a watchdog process that
 * stops the group once this process is gone (see watchdog.ts). Only the temp dir stays then.
 */
export async function startTestServices(): Promise<TestServices> {
  const tmp = makeTempDir("skiff-svc-");
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.reverse().map((s) => s.stop()));
    tmp.remove();
  };
  try {
    const redis = await startRedis();
    started.push(redis);
    const postgres = await startPostgres({ dataDir: join(tmp.path, "pg") });
    started.push(postgres);
    return { redis, postgres, dir: tmp.path, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
