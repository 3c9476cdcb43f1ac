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
});
