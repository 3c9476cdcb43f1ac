import { freePort } from "@skiff/devkit";
import { describe, expect, it } from "vitest";
import { formatError, run } from "./cli.js";
import { ApiError } from "./client.js";
import type { Io } from "./command.js";
import { lookup } from "./registry.js";

function memoryIo(
  env: Record<string, string> = {},
): Io & { stdout: never; output: () => string; errors: () => string } {
  let out = "";
  let err = "";
  return {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    // No local cluster is found from /: tests never reach a developer's running cluster by accident.
    env,
    cwd: "/",
    stdout: undefined as never,
    output: () => out,
    errors: () => err,
  };
}

describe("lookup", () => {
  it("prefers two-word commands, falls back to one, knows groups and shorthands", () => {
    expect(lookup(["vps", "list"]).command?.path).toEqual(["vps", "list"]);
    expect(lookup(["plans"]).command?.path).toEqual(["plans"]);
    expect(lookup(["plans", "list"]).command?.path).toEqual(["plans", "list"]);
    expect(lookup(["migrate", "web-1"])).toMatchObject({ words: ["migrate"] });
    expect(lookup(["migrate"]).command?.path).toEqual(["vps", "migrate"]);
    expect(lookup(["vps"])).toEqual({ words: ["vps"], group: "vps" });
    expect(lookup(["nope"])).toEqual({ words: [] });
  });
});

describe("run", () => {
  it("prints help with exit 0", async () => {
    const io = memoryIo();
    expect(await run(["help"], io)).toBe(0);
    expect(io.output()).toContain("vps migrate");
    const one = memoryIo();
    expect(await run(["vps", "create", "--help"], one)).toBe(0);
    expect(one.output()).toContain("Usage: skiff vps create <name> --plan PLAN");
  });

  it("exits 2 on usage errors, with the command's usage line", async () => {
    const io = memoryIo();
    expect(await run(["vps", "get"], io)).toBe(2);
    expect(io.errors()).toBe("skiff: missing vps\nusage: skiff vps get <vps>\n");

    const unknownOpt = memoryIo();
    expect(await run(["nodes", "list", "--frobnicate"], unknownOpt)).toBe(2);
    expect(unknownOpt.errors()).toContain("skiff: Unknown option '--frobnicate'");

    const noPlan = memoryIo();
    expect(await run(["vps", "create", "web-1"], noPlan)).toBe(2);
    expect(noPlan.errors()).toContain("--plan is required");

    const badWait = memoryIo();
    expect(await run(["vps", "migrate", "web-1", "--max-downtime", "fast"], badWait)).toBe(2);

    const unknown = memoryIo();
    expect(await run(["frobnicate"], unknown)).toBe(2);
    expect(unknown.errors()).toBe("skiff: unknown command 'frobnicate' (see `skiff help`)\n");

    const unknownSub = memoryIo();
    expect(await run(["vps", "explode", "x"], unknownSub)).toBe(2);
    expect(unknownSub.errors()).toContain("skiff: unknown command 'vps explode'");
  });

  it("exits 1 with a code when the API cannot be reached, never a stack trace", async () => {
    const port = await freePort(); // free: nothing listens there
    const io = memoryIo({ SKIFF_API_URL: `http://127.0.0.1:${port}` });
    expect(await run(["plans"], io)).toBe(1);
    expect(io.errors()).toBe(
      `skiff: UNREACHABLE: cannot reach the API at http://127.0.0.1:${port} (from SKIFF_API_URL): ECONNREFUSED\n`,
    );
  });
});

describe("formatError", () => {
  it("prints the code and message, then each validation issue", () => {
    const e = new ApiError(400, "VALIDATION_FAILED", "body is invalid", {
      issues: [{ path: ["name"], message: "lowercase letters, digits and '-'" }],
    });
    expect(formatError(e)).toBe(
      "skiff: VALIDATION_FAILED: body is invalid\n  name: lowercase letters, digits and '-'\n",
    );
    const pointer = new ApiError(400, "VALIDATION_FAILED", "invalid request body", {
      issues: [{ path: "/quotas/maxVps", message: "too big" }],
    });
    expect(formatError(pointer)).toBe(
      "skiff: VALIDATION_FAILED: invalid request body\n  quotas.maxVps: too big\n",
    );
  });

  it("says a missing route is the API's age, not the user's mistake", () => {
    const e = new ApiError(404, "NOT_FOUND", "no route GET /v1/balancer");
    expect(formatError(e)).toContain("this API does not offer that yet");
  });
});
