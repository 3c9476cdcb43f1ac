import { createServer } from "node:net";

/**
 * Ports are handed out below Linux's ephemeral range (32768-60999 by default), so an outgoing
 * connection never takes one between the moment it is chosen and the moment its server binds it.
 * Test files run several at once: each vitest worker (VITEST_POOL_ID, inherited by the processes a
 * test starts) draws from its own slice, and a process never hands out the same port twice.
 */
const LOW = 20_000;
const SLICE = 3_000;
const SLICES = 4;

const given = new Set<number>();

function slice(): { from: number; size: number } {
  const pool = Number(process.env.VITEST_POOL_ID);
  if (!Number.isInteger(pool) || pool < 1) return { from: LOW, size: SLICE * SLICES };
  return { from: LOW + ((pool - 1) % SLICES) * SLICE, size: SLICE };
}

/** A TCP port free on 127.0.0.1 right now that this process has not handed out before. */
export async function freePort(): Promise<number> {
  const { from, size } = slice();
  for (let tries = 0; tries < 100; tries++) {
    const port = from + Math.floor(Math.random() * size);
    if (given.has(port)) continue;
    given.add(port); // before the check: concurrent callers never draw the same one
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${from}-${from + size - 1} after 100 tries`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}
