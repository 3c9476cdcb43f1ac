import { describe, expect, it } from "vitest";
import {
  bytesOpt,
  commandWords,
  durationMsOpt,
  intOpt,
  parseCommandArgs,
  positionals,
  UsageError,
  withoutWords,
} from "./args.js";

describe("command words", () => {
  it("finds the command words wherever global options sit", () => {
    expect(commandWords(["vps", "list", "--json"], 2)).toEqual(["vps", "list"]);
    expect(commandWords(["--json", "vps", "list"], 2)).toEqual(["vps", "list"]);
    expect(commandWords(["--token", "secret", "vps", "get", "web-1"], 2)).toEqual(["vps", "get"]);
    expect(commandWords(["--token=secret", "plans"], 2)).toEqual(["plans"]);
    expect(commandWords(["--api", "http://x", "nodes", "drain", "n1"], 2)).toEqual(["nodes", "drain"]);
  });

  it("removes exactly the command words, leaving option values alone", () => {
    // A token that happens to be spelled like a command word must survive.
    expect(withoutWords(["--token", "vps", "vps", "get", "x"], ["vps", "get"])).toEqual([
      "--token",
      "vps",
      "x",
    ]);
    expect(withoutWords(["vps", "get", "vps"], ["vps", "get"])).toEqual(["vps"]);
    expect(withoutWords(["--json", "plans"], ["plans"])).toEqual(["--json"]);
  });
});

describe("parseCommandArgs", () => {
  const opts = { to: { type: "string" }, wait: { type: "boolean", short: "w" } } as const;

  it("merges command options with the global ones", () => {
    const p = parseCommandArgs(["web-1", "--to", "node-2", "-w", "--json", "--token=abc"], opts);
    expect(p.positionals).toEqual(["web-1"]);
    expect(p.values).toMatchObject({ to: "node-2", wait: true, json: true, token: "abc" });
  });

  it("turns unknown options and missing values into a UsageError with a short message", () => {
    expect(() => parseCommandArgs(["--nope"], opts)).toThrow(UsageError);
    expect(() => parseCommandArgs(["--nope"], opts)).toThrow("Unknown option '--nope'");
    expect(() => parseCommandArgs(["--to"], opts)).toThrow(UsageError);
  });

  it("checks the number of positionals", () => {
    const one = parseCommandArgs(["a"], {});
    expect(positionals(one, ["vps"])).toEqual(["a"]);
    expect(() => positionals(parseCommandArgs([], {}), ["vps"])).toThrow("missing vps");
    expect(() => positionals(parseCommandArgs(["a", "b"], {}), ["vps"])).toThrow("unexpected argument 'b'");
    expect(positionals(parseCommandArgs([], {}), ["name", "extra"], 2)).toEqual([]);
  });
});

describe("typed option values", () => {
  it("reads whole numbers within bounds", () => {
    expect(intOpt({ limit: "20" }, "limit", 1, 500)).toBe(20);
    expect(intOpt({}, "limit")).toBeUndefined();
    expect(() => intOpt({ limit: "0" }, "limit", 1, 500)).toThrow("between 1 and 500");
    expect(() => intOpt({ limit: "2x" }, "limit")).toThrow("whole number");
  });

  it("reads durations in ms, s and m", () => {
    expect(durationMsOpt({ d: "50" }, "d")).toBe(50);
    expect(durationMsOpt({ d: "50ms" }, "d")).toBe(50);
    expect(durationMsOpt({ d: "1.5s" }, "d")).toBe(1500);
    expect(durationMsOpt({ d: "2m" }, "d")).toBe(120_000);
    expect(() => durationMsOpt({ d: "soon" }, "d")).toThrow(UsageError);
  });

  it("reads sizes with binary units", () => {
    expect(bytesOpt({ b: "1048576" }, "b")).toBe(1 << 20);
    expect(bytesOpt({ b: "512K" }, "b")).toBe(512 * 1024);
    expect(bytesOpt({ b: "100M" }, "b")).toBe(100 * 2 ** 20);
    expect(bytesOpt({ b: "2GiB" }, "b")).toBe(2 * 2 ** 30);
    expect(() => bytesOpt({ b: "lots" }, "b")).toThrow(UsageError);
  });
});
