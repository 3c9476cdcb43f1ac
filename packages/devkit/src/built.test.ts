import { describe, expect, it } from "vitest";
import { builtForTests } from "./built.js";

const root = import.meta.dirname;

describe("builtForTests", () => {
  it("is true when every output exists", () => {
    expect(builtForTests(root, ["built.ts", "built.test.ts"], {})).toBe(true);
  });

  it("lets a suite skip locally when an output is missing", () => {
    expect(builtForTests(root, ["built.ts", "no-such/dist/main.js"], {})).toBe(false);
  });

  it("fails loudly under CI instead of skipping, naming what is missing", () => {
    expect(() => builtForTests(root, ["built.ts", "no-such/dist/main.js"], { CI: "true" })).toThrow(
      /no-such\/dist\/main\.js/,
    );
  });
});
