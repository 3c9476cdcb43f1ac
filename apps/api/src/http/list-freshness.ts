import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyInstance } from "fastify";

/**
 * How old a list may be. Each API process reuses its last read of a list's change counter while
 * that read started less than this before the request (http/page-cache.ts), so a list shows every
 * change committed this long before it was asked for; and every answer to a write that was not
 * refused is held until this long after the write's handler ended, so a change a client made
 * through the API (any replica) is in every list it asks for once it has the answer.
 */
export const LIST_MAX_AGE_MS = 5;

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Holds every answer to a write LIST_MAX_AGE_MS past its handler (its commits are done by then):
 * a list asked for after the answer arrives comes from a counter read started after the commit.
 * A refused write (4xx) changed nothing and is answered at once (a script's mistakes, the fuzz
 * test's thousands). Timers may fire early by a loop turn's clock, so the wait is measured.
 */
export function holdWriteAnswers(app: FastifyInstance, holdMs = LIST_MAX_AGE_MS): void {
  app.addHook("onSend", async (req, reply, payload) => {
    if (!WRITES.has(req.method) || (reply.statusCode >= 400 && reply.statusCode < 500)) return payload;
    const until = performance.now() + holdMs;
    for (let left = holdMs; left > 0; left = until - performance.now()) await sleep(Math.ceil(left));
    return payload;
  });
}
