import { performance } from "node:perf_hooks";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { holdWriteAnswers } from "./list-freshness.js";

describe("holdWriteAnswers", () => {
  it("sends a write's answer no sooner than the hold after its handler, and holds no read", async () => {
    const app = Fastify();
    const holdMs = 50;
    holdWriteAnswers(app, holdMs);
    let handled = 0;
    app.post("/w", async () => {
      handled = performance.now();
      return { ok: true };
    });
    const write = await app.inject({ method: "POST", url: "/w" });
    expect(write.json()).toEqual({ ok: true });
    expect(performance.now() - handled).toBeGreaterThanOrEqual(holdMs);
    await app.close();

    // A read held as long as this one would be would outlast the test.
    const reads = Fastify();
    holdWriteAnswers(reads, 3_600_000);
    reads.get("/r", async () => ({ ok: true }));
    expect((await reads.inject({ method: "GET", url: "/r" })).statusCode).toBe(200);
    await reads.close();
  });
});
