import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { freePort } from "@skiff/devkit";
import { describe, expect, it } from "vitest";
import { formatError, run } from "./cli.js";
import { ApiError } from "./client.js";
import type { Io } from "./command.js";
import { lookup } from "./registry.js";

/** A real HTTP server on loopback answering each request with `answer`. */
async function serve(
  answer: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, paths };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function memoryIo(
  env: Record<string, string> = {},
  interrupt?: AbortSignal,
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
    interrupt,
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

  it("suggests the command a typo was close to", async () => {
    const typo = memoryIo();
    expect(await run(["vps", "creat", "web-1"], typo)).toBe(2);
    expect(typo.errors()).toContain("skiff: unknown command 'vps creat'; did you mean 'vps create'?");
    const group = memoryIo();
    expect(await run(["vsp", "list"], group)).toBe(2);
    expect(group.errors()).toContain("unknown command 'vsp'; did you mean 'vps'?");
    const far = memoryIo();
    expect(await run(["vps", "explode"], far)).toBe(2);
    expect(far.errors()).not.toContain("did you mean");
  });

  it("--json prints errors as one JSON object, usage errors and API errors alike", async () => {
    const usage = memoryIo();
    expect(await run(["vps", "get", "--json"], usage)).toBe(2);
    expect(JSON.parse(usage.errors())).toEqual({ error: { code: "USAGE", message: "missing vps" } });
    const api = await serve((_req, res) =>
      json(res, 404, { error: { code: "PLAN_NOT_FOUND", message: "no plan x", details: { id: "x" } } }),
    );
    try {
      const io = memoryIo({ SKIFF_API_URL: api.url, SKIFF_TOKEN: "t" });
      expect(await run(["plans", "--json"], io)).toBe(1);
      expect(JSON.parse(io.errors())).toEqual({
        error: { code: "PLAN_NOT_FOUND", message: "no plan x", details: { id: "x" } },
      });
    } finally {
      api.server.close();
    }
  });

  it("an address without http:// is refused before any request, with the fix", async () => {
    const io = memoryIo({ SKIFF_API_URL: "127.0.0.1:18490" });
    expect(await run(["plans"], io)).toBe(1);
    expect(io.errors()).toBe(
      "skiff: BAD_API_URL: the API address '127.0.0.1:18490' (from SKIFF_API_URL) is not a URL; did you mean http://127.0.0.1:18490?\n",
    );
  });

  it("says where a refused token came from, and when a server is not the Skiff API", async () => {
    const api = await serve((req, res) =>
      req.url?.startsWith("/v1/")
        ? json(res, 401, { error: { code: "UNAUTHENTICATED", message: "token old was revoked at X" } })
        : res.writeHead(404, { "content-type": "text/html" }).end("<!DOCTYPE html><html>nope</html>"),
    );
    try {
      const io = memoryIo({ SKIFF_API_URL: api.url, SKIFF_TOKEN: "skiff_op_x" });
      expect(await run(["plans"], io)).toBe(1);
      expect(io.errors()).toBe(
        "skiff: UNAUTHENTICATED: token old was revoked at X (the token came from SKIFF_TOKEN)\n",
      );
      const other = memoryIo({ SKIFF_API_URL: `${api.url}/elsewhere`, SKIFF_TOKEN: "t" });
      expect(await run(["plans"], other)).toBe(1);
      expect(other.errors()).toBe(
        `skiff: HTTP_404: ${api.url}/elsewhere/v1/plans answered 404 Not Found (an HTML page), not a Skiff API error: is this address the Skiff API?\n`,
      );
    } finally {
      api.server.close();
    }
  });

  it("whoami says what the API knows of the token and where skiff found it", async () => {
    const who = {
      kind: "operator",
      tokenId: "t",
      tokenName: "ops",
      projectId: null,
      projectName: null,
      expiresAt: null,
    };
    const api = await serve((_req, res) => json(res, 200, who));
    try {
      const io = memoryIo({ SKIFF_API_URL: api.url, SKIFF_TOKEN: "x" });
      expect(await run(["whoami"], io)).toBe(0);
      expect(io.output()).toBe(`operator token ops at ${api.url} (token from SKIFF_TOKEN)\n`);
      expect(api.paths).toEqual(["GET /v1/whoami"]);
    } finally {
      api.server.close();
    }
  });

  it("Ctrl-C during --wait says the work goes on and how to follow it (exit 130)", async () => {
    const vps = {
      id: "11111111-2222-3333-4444-555555555555",
      name: "web-1",
      state: "provisioning",
      action: "create",
    };
    const api = await serve((_req, res) => json(res, _req.method === "POST" ? 202 : 200, vps));
    const ctrlC = new AbortController();
    try {
      const io = memoryIo({ SKIFF_API_URL: api.url, SKIFF_TOKEN: "t" }, ctrlC.signal);
      const exit = run(["vps", "create", "web-1", "--plan", "small", "--wait"], io);
      // Interrupt once the wait has polled: the create was sent and answered.
      while (!api.paths.some((p) => p.startsWith("GET /v1/vps/")))
        await new Promise((r) => setTimeout(r, 10));
      ctrlC.abort();
      expect(await exit).toBe(130);
      expect(io.errors()).toBe(
        "\nskiff: stopped waiting; VPS web-1 goes on in the background (follow it with `skiff vps get web-1`)\n",
      );
    } finally {
      api.server.close();
    }
  });

  it("vps delete asks first; without a terminal it wants --yes and deletes nothing", async () => {
    const vps = {
      id: "11111111-2222-3333-4444-555555555555",
      name: "web-1",
      state: "deleting",
      action: "delete",
    };
    const api = await serve((_req, res) => json(res, 200, _req.method === "GET" ? { items: [vps] } : vps));
    try {
      const io = memoryIo({ SKIFF_API_URL: api.url, SKIFF_TOKEN: "t" });
      expect(await run(["vps", "delete", "web-1"], io)).toBe(2);
      expect(io.errors()).toContain("pass --yes to confirm (stdin is not a terminal)");
      expect(api.paths.filter((p) => p.startsWith("DELETE"))).toEqual([]);
      const yes = memoryIo({ SKIFF_API_URL: api.url, SKIFF_TOKEN: "t" });
      expect(await run(["vps", "delete", "web-1", "--yes"], yes)).toBe(0);
      expect(api.paths.filter((p) => p.startsWith("DELETE"))).toEqual([`DELETE /v1/vps/${vps.id}`]);
    } finally {
      api.server.close();
    }
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
