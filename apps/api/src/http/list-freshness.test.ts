import { performance } from "node:perf_hooks";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { holdWriteAnswers } from "./list-freshness.js";

describe("holdWriteAnswers", () => {
  it("sends a write's answer no sooner than the hold after its handler, and holds no read or refusal", async () => {
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

    // A read or a refusal held as long as this would outlast the test.
    const unheld = Fastify();
    holdWriteAnswers(unheld, 3_600_000);
    unheld.get("/r", async () => ({ ok: true }));
    unheld.post("/refused", async (_req, reply) => reply.code(409).send({ error: "taken" }));
    expect((await unheld.inject({ method: "GET", url: "/r" })).statusCode).toBe(200);
    expect((await unheld.inject({ method: "POST", url: "/refused" })).statusCode).toBe(409);
    await unheld.close();
  });
});
