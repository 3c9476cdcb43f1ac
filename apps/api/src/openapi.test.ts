import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "./openapi.js";

describe("the OpenAPI document", () => {
  it("the CLI is built against the document the API serves (else: pnpm --filter @skiff/api generate:openapi)", async () => {
    const committed = JSON.parse(
      readFileSync(join(import.meta.dirname, "../../../packages/cli/openapi.json"), "utf8"),
    );
    expect(committed).toEqual(JSON.parse(JSON.stringify(await openApiDocument())));
  });

  it("names every operation once, says where the API is, and documents the console and /metrics", async () => {
    const doc = (await openApiDocument()) as Awaited<ReturnType<typeof openApiDocument>> & {
      servers?: { url: string }[];
    };
    const ops = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, op]) => ({
        at: `${method.toUpperCase()} ${path}`,
        id: (op as { operationId?: string }).operationId,
      })),
    );
    expect(ops.filter((o) => !o.id).map((o) => o.at)).toEqual([]);
    expect(new Set(ops.map((o) => o.id)).size).toBe(ops.length);
    expect(doc.servers?.map((s) => s.url)).toContain("/");
    expect(ops.map((o) => o.at)).toEqual(
      expect.arrayContaining(["GET /v1/vps/{id}/console", "GET /metrics", "GET /v1/whoami"]),
    );
  });
});
