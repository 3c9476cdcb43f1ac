import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..", "..");

describe("docs/configuration.md", () => {
  it("matches the typed config specs in the code", async () => {
    const { renderConfigDocs } = (await import(join(root, "scripts", "config-docs.mjs"))) as {
      renderConfigDocs(): Promise<string>;
    };
    expect(readFileSync(join(root, "docs", "configuration.md"), "utf8")).toBe(await renderConfigDocs());
  });
});
