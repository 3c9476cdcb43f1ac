import { describe, expect, it } from "vitest";
import { bool, describeConfig, int, loadConfig, oneOf, parseByteSize, port, str } from "./config.js";

const spec = {
  host: str("T_HOST", "address to bind", "127.0.0.1"),
  port: port("T_PORT", "port to listen on", 8080),
  workers: int("T_WORKERS", "worker count", 2),
  debug: bool("T_DEBUG", "debug mode", false),
  mode: oneOf(["spread", "pack"] as const)("T_MODE", "placement mode", "spread"),
  token: str("T_TOKEN", "a required secret"),
};

describe("loadConfig", () => {
  it("applies defaults and parses values", () => {
    const c = loadConfig(spec, { T_TOKEN: "x", T_PORT: "9000", T_DEBUG: "yes", T_MODE: "pack" });
    expect(c).toEqual({ host: "127.0.0.1", port: 9000, workers: 2, debug: true, mode: "pack", token: "x" });
  });

  it("names the variable of a bad value", () => {
    expect(() => loadConfig(spec, { T_TOKEN: "x", T_PORT: "99999" })).toThrow(/T_PORT/);
    expect(() => loadConfig(spec, { T_TOKEN: "x", T_MODE: "fast" })).toThrow(
      /T_MODE: expected one of spread, pack/,
    );
    expect(() => loadConfig(spec, {})).toThrow(/T_TOKEN is required/);
  });

  it("parses byte sizes", () => {
    expect(parseByteSize("128M")).toBe(128 * 2 ** 20);
    expect(parseByteSize("2G")).toBe(2 * 2 ** 30);
    expect(parseByteSize("4096")).toBe(4096);
    expect(() => parseByteSize("lots")).toThrow();
  });

  it("documents itself", () => {
    expect(describeConfig("Test", spec)).toContain("| `T_PORT` | `8080` | port to listen on |");
  });
});
