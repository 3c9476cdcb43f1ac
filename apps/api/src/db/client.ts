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
  return new PrismaClient({ adapter });
}
