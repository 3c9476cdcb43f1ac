import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.js";

export type Db = PrismaClient;
export type * from "../generated/prisma/client.js";
export { Prisma } from "../generated/prisma/client.js";

/**
 * A Prisma client over node-postgres (driver adapter): no native query engine, so it runs
 * anywhere Node runs. `max` bounds the pool per process.
 */
export function createDb(databaseUrl: string, opts: { max?: number } = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: opts.max ?? 10 });
  // Prisma's 5 s default for interactive transactions is too short for a loaded host: placement
  // takes an advisory lock and reads the whole node table inside one, and a commit that comes in
  // late is lost work. Failing that is still retried by the job (see transient.ts).
  return new PrismaClient({ adapter, transactionOptions: { maxWait: 10_000, timeout: 20_000 } });
}
