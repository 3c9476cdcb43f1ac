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
 * in afterAll; processes are also killed if the test process exits first.
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
