/**
 * The built `skiff` against a real API process, started as the local cluster starts it
 * (packages/devkit/src/cluster): throwaway PostgreSQL and Redis, `migrate.js --seed`, then
 * apps/api/dist/main.js on a free port. With the node agent built, two real agents join so a VPS
 * can go all the way to running, move live from one to the other, and end deleted.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  builtForTests,
  freePort,
  makeTempDir,
  type Supervised,
  startProcess,
  startTestServices,
  type TestServices,
  testRegion,
  waitUntil,
} from "@skiff/devkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..", "..");
const SKIFF = join(root, "packages/cli/dist/main.js");
const API_MAIN = join(root, "apps/api/dist/main.js");
const MIGRATE = join(root, "apps/api/dist/db/migrate.js");
const AGENT_MAIN = join(root, "apps/node-agent/dist/main.js");
// The agent's test firmware, from its source (test helpers are not part of the agent's build).
const ECHO_FIRMWARE = join(root, "apps/node-agent/src/test-support/echo-firmware.ts");

// Under CI a missing build fails these suites instead of skipping them (see builtForTests).
const apiBuilt = builtForTests(root, [SKIFF, API_MAIN, MIGRATE]);
const agentBuilt = builtForTests(root, [AGENT_MAIN]);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const tmp = makeTempDir("skiff-cli-int-");
let services: TestServices | undefined;
let api: Supervised | undefined;
const agents: Supervised[] = [];
let url = "";
let agentPort = 0;
const operatorToken = `skiff_op_cli_${Date.now()}`;
const agentToken = "cli-test-agent-secret";
const agentDir = (name: string) => join(tmp.path, "agents", name);

/** Runs the built skiff in its own process, as a user would. */
function skiff(
  args: string[],
  opts: { token?: string; input?: string; env?: Record<string, string | undefined> } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SKIFF, ...args], {
      // cwd outside the repository: only SKIFF_API_URL/SKIFF_TOKEN say where to go.
      cwd: tmp.path,
      env: withoutUndefined({
        PATH: process.env.PATH,
        SKIFF_API_URL: url,
        SKIFF_TOKEN: opts.token ?? operatorToken,
        ...opts.env,
      }),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

function withoutUndefined(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** skiff with --json, expecting success. */
async function json<T = Record<string, unknown>>(args: string[], token?: string): Promise<T> {
  const r = await skiff([...args, "--json"], { token });
  expect(r.code, `skiff ${args.join(" ")}\n${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Every failure prints one coded line, never a stack trace. */
function expectCodedError(r: Result, code: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^skiff: ${code}: \\S`));
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

function killVmms(dataDir: string): void {
  const vms = join(dataDir, "vms");
  if (!existsSync(vms)) return;
  for (const id of readdirSync(vms)) {
    try {
      const pid = Number.parseInt(readFileSync(join(vms, id, "vmm.pid"), "utf8"), 10);
      if (pid > 0) process.kill(pid, "SIGKILL");
    } catch {
      // no pid file, or already gone
    }
  }
}

describe.skipIf(!apiBuilt)("skiff against a real API", () => {
  beforeAll(async () => {
    services = await startTestServices();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    agentPort = await freePort();
    const env = {
      ...process.env,
      LOG_LEVEL: "warn",
      DATABASE_URL: services.postgres.url,
      REDIS_URL: services.redis.url,
      SKIFF_API_URL: url,
      SKIFF_AGENT_TOKEN: agentToken,
      SKIFF_OPERATOR_TOKEN: operatorToken,
      SKIFF_REPO_ROOT: root,
      // The API and the agents speak mutual TLS (the test region's certificates).
      SKIFF_TLS_DIR: (await testRegion()).dir,
    };
    const m = spawnSync(process.execPath, [MIGRATE, "--seed"], { env, encoding: "utf8" });
    if (m.status !== 0) throw new Error(`migrate failed: ${m.stdout}${m.stderr}`);
    api = startProcess("api", process.execPath, [API_MAIN], {
      env: {
        ...env,
        SKIFF_API_PORT: String(port),
        SKIFF_API_AGENT_PORT: String(agentPort),
        SKIFF_API_HOST: "127.0.0.1",
        SKIFF_HEARTBEAT_INTERVAL_MS: "500",
      },
    });
    await waitUntil(
      "API ready",
      async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200,
      {
        proc: api,
        timeoutMs: 30_000,
      },
    );
  });

  afterAll(async () => {
    for (const a of agents) await a.stop().catch(() => undefined);
    for (const a of agents) killVmms(agentDir(a.name));
    await api?.stop().catch(() => undefined);
    await services?.stop();
    tmp.remove();
  });

  it("lists the seeded plans and images as tables and as JSON", async () => {
    const r = await skiff(["plans"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^NAME\s+VCPUS\s+MEMORY\s+DISK\s+CPU SHARE\s+ID$/);
    expect(r.stdout).toMatch(/\nsmall\s+1\s+64 MiB\s+128 MiB\s+50\s+[0-9a-f-]{36}\n/);
    const plans = await json<{ items: { name: string }[]; nextCursor: null }>(["plans"]);
    expect(plans.items.map((p) => p.name)).toEqual(
      expect.arrayContaining(["nano", "small", "medium", "large"]),
    );

    const images = await skiff(["images"]);
    expect(images.code, images.stderr).toBe(0);
    expect(images.stdout).toMatch(/\nlinux \(default\)\s+riscv32\s+linux\s+guests\/linux\/Image/);
  });

  it("adds, lists and deletes SSH keys; refuses a private key file before sending it", async () => {
    const key = join(tmp.path, "id_ed25519");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "me@cli", "-f", key]);
    const fingerprint = spawnSync("ssh-keygen", ["-l", "-f", `${key}.pub`], {
      encoding: "utf8",
    }).stdout.split(" ")[1];
    const added = await skiff(["ssh-keys", "add", "laptop", `${key}.pub`]);
    expect([added.code, added.stdout]).toEqual([0, `ssh key laptop added: ${fingerprint}\n`]);
    const listed = await skiff(["ssh-keys", "list"]);
    expect(listed.stdout.split("\n")[1]).toMatch(
      new RegExp(`^laptop\\s+ssh-ed25519\\s+${fingerprint!.replace(/[+/]/g, "\\$&")}\\s+me@cli\\s`),
    );
    const secret = await skiff(["ssh-keys", "add", "oops", key]);
    expect(secret.code).toBe(2);
    expect(secret.stderr).toContain(`skiff: ${key} is a private key: give its .pub file\n`);
    expectCodedError(await skiff(["ssh-keys", "add", "again", `${key}.pub`]), "NAME_TAKEN");
    expect((await skiff(["ssh-keys", "delete", "laptop"])).stdout).toBe("ssh key laptop deleted\n");
    expect((await skiff(["ssh-keys", "list"])).stdout).toBe("No SSH keys.\n");
  });

  it("refuses a VPS no node can hold with the API's code, exit 1", async () => {
    const r = await skiff(["vps", "create", "web-1", "--plan", "small"]);
    expectCodedError(r, "NO_NODE_FITS");
    const badPlan = await skiff(["vps", "create", "web-1", "--plan", "galactic"]);
    expect(badPlan.code).toBe(1);
    expect(badPlan.stderr).toMatch(/^skiff: (PLAN_NOT_FOUND|INVALID_REFERENCE): .*galactic/);
    const badName = await skiff(["vps", "create", "Not_A_Name", "--plan", "small"]);
    expectCodedError(badName, "VALIDATION_FAILED");
    expect(badName.stderr).toContain("  name: lowercase letters");
    expect((await json<{ items: unknown[] }>(["vps", "list"])).items).toEqual([]);
    expect((await skiff(["vps", "list"])).stdout).toBe("No VPSes.\n");
  });

  it("rejects a bad token with exit 1, the code and where it came from; a tenant on operator routes", async () => {
    const bad = await skiff(["vps", "list"], { token: "skiff_op_not_a_real_token" });
    expectCodedError(bad, "UNAUTHENTICATED");
    expect(bad.stderr).toContain("unknown token");
    expect(bad.stderr).toContain("(the token came from SKIFF_TOKEN)");
    const noToken = await skiff(["plans"], { token: "" });
    expectCodedError(noToken, "UNAUTHENTICATED");
    expect(noToken.stderr).toContain("set SKIFF_TOKEN, pass --token");

    const project = await json<{ id: string }>(["projects", "create", "cli-tenant", "--max-vps", "5"]);
    // The project by name, as everywhere else.
    const created = await json<{ id: string; token: string; scope: string; projectId: string }>([
      "tokens",
      "create",
      "t1",
      "--project",
      "cli-tenant",
    ]);
    expect(created).toMatchObject({ scope: "tenant", projectId: project.id });
    expect((await skiff(["whoami"], { token: created.token })).stdout).toBe(
      `tenant token t1 (project cli-tenant) at ${url} (token from SKIFF_TOKEN)\n`,
    );
    expectCodedError(await skiff(["nodes", "list"], { token: created.token }), "FORBIDDEN");
    expect((await json<{ items: unknown[] }>(["vps", "list"], created.token)).items).toEqual([]);

    const tokens = await skiff(["tokens", "list", "--project", project.id]);
    expect(tokens.stdout).toMatch(/t1\s+skiff_tn_\S*\s+tenant\s+\S+\s+active/);

    // A revoked token is told so, not lumped in with made-up ones.
    await json(["tokens", "revoke", created.id]);
    const revoked = await skiff(["plans"], { token: created.token });
    expectCodedError(revoked, "UNAUTHENTICATED");
    expect(revoked.stderr).toMatch(/token t1 was revoked at \S+Z/);
  }, 120_000);

  it("logs in: checks the token first, saves it private, then needs no SKIFF_TOKEN", async () => {
    const config = join(tmp.path, "home", "skiff.json");
    const bad = await skiff(["login", "--token", "skiff_op_wrong"], {
      env: { SKIFF_CONFIG: config, SKIFF_TOKEN: undefined },
    });
    expectCodedError(bad, "UNAUTHENTICATED");
    expect(existsSync(config)).toBe(false);

    const good = await skiff(["login", "--token", operatorToken], {
      env: { SKIFF_CONFIG: config, SKIFF_TOKEN: undefined },
    });
    expect(good.code, good.stderr).toBe(0);
    // The API names the token, whatever its prefix (a region's first one is what the operator chose).
    expect(good.stdout).toBe(
      `logged in to ${url} with an operator token seed-operator (saved in ${config})\n`,
    );
    expect(statSync(config).mode & 0o777).toBe(0o600);

    // Neither SKIFF_API_URL nor SKIFF_TOKEN: the saved login says where and who.
    const env = { SKIFF_CONFIG: config, SKIFF_TOKEN: undefined, SKIFF_API_URL: undefined };
    expect((await skiff(["plans"], { env })).code).toBe(0);
    expect((await skiff(["logout"], { env })).stdout).toBe(`forgot the login to ${url}\n`);
    expect((await skiff(["plans"], { env })).stderr).toMatch(/^skiff: (UNREACHABLE|UNAUTHENTICATED): /);
  });

  it("prints a clean error for routes this API does not have, never a stack trace", async () => {
    for (const args of [
      ["balancer", "status"],
      ["migrations", "list"],
      ["balancer", "plan"],
    ]) {
      const r = await skiff(args);
      if (r.code === 0) continue; // the API has grown the route since
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^skiff: [A-Z_]+: \S/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  describe.skipIf(!agentBuilt)("with two real node agents", () => {
    beforeAll(async () => {
      const region = await testRegion();
      for (const name of ["node-1", "node-2"]) {
        await region.node(name);
        const proc = startProcess(name, process.execPath, [AGENT_MAIN], {
          env: {
            ...process.env,
            SKIFF_TLS_DIR: region.dir,
            LOG_LEVEL: "warn",
            // The API's agent listener (mutual TLS, the node certificate).
            SKIFF_API_URL: `https://127.0.0.1:${agentPort}`,
            SKIFF_AGENT_TOKEN: agentToken,
            SKIFF_REPO_ROOT: root,
            SKIFF_AGENT_NAME: name,
            SKIFF_AGENT_GRPC_PORT: String(await freePort()),
            SKIFF_AGENT_DATA_DIR: agentDir(name),
            SKIFF_AGENT_SHARED_DIR: join(tmp.path, "shared"),
            SKIFF_AGENT_CPUS: "2",
            SKIFF_AGENT_MEMORY: "256M",
            HOST: "127.0.0.1",
          },
        });
        agents.push(proc);
      }
      await waitUntil(
        "both nodes registered",
        async () =>
          (await json<{ items: unknown[] }>(["nodes", "list", "--status", "ready"])).items.length === 2,
        { timeoutMs: 30_000, intervalMs: 300 },
      );
      // A tiny guest that stays up and echoes its console: the agent's test firmware.
      const mod = (await import(pathToFileURL(ECHO_FIRMWARE).href)) as { echoFirmware(): Uint8Array };
      const kernel = join(tmp.path, "echo.elf");
      writeFileSync(kernel, mod.echoFirmware());
      await json(["images", "create", "echo", "--kernel", kernel, "--boot", "firmware"]);
      await json(["plans", "create", "fw", "--vcpus", "1", "--memory", "1M", "--cpu-share", "10"]);
    }, 60_000);

    it("refuses a plan no node could hold, and deletes an unused one", async () => {
      expectCodedError(
        await skiff(["plans", "create", "huge", "--vcpus", "1", "--memory", "8G"]),
        "NO_NODE_FITS",
      );
      await json(["plans", "create", "spare", "--vcpus", "1", "--memory", "1M"]);
      expect((await skiff(["plans", "delete", "spare"])).stdout).toBe("deleted plan spare\n");
      expect((await skiff(["plans"])).stdout).not.toMatch(/\nspare\s/);
    });

    it("shows the node, drains and undrains it by name", async () => {
      const nodes = await skiff(["nodes", "list"]);
      expect(nodes.stdout).toContain("All nodes run on one host (127.0.0.1)");
      expect(nodes.stdout).toMatch(/node-1\s+ready\s+127\.0\.0\.1:\d+\s+0\s+0\/2\s+0 B\/256 MiB/);
      expect(nodes.stdout).toMatch(/node-2\s+ready\s+127\.0\.0\.1:\d+\s+0\s+0\/2\s+0 B\/256 MiB/);
      expect((await skiff(["nodes", "drain", "node-1"])).stdout).toMatch(/^node-1\s+ready,maintenance/);
      expect((await json<{ maintenance: boolean }>(["nodes", "get", "node-1"])).maintenance).toBe(true);
      expect((await skiff(["nodes", "undrain", "node-1"])).stdout).toMatch(/^node-1\s+ready\s/);
    });

    it("creates a VPS and follows it to running, talks to its console, migrates, stops and deletes it", async () => {
      const created = await skiff(["vps", "create", "fw-1", "--plan", "fw", "--image", "echo", "--wait"]);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toBe("fw-1  running\n");

      const list = await skiff(["vps", "list"]);
      expect(list.stdout).toMatch(
        /\n[0-9a-f-]{36}\s+fw-1\s+running\s+node-1\s+10\.\d+\.\d+\.\d+\s+1\s+1 MiB\s+0 B\s+\d+s\n/,
      );
      const got = await json<{ name: string; state: string; epoch: number }>(["vps", "get", "fw-1"]);
      expect(got).toMatchObject({ name: "fw-1", state: "running", epoch: 1 });
      // The node holding it is not revoked: asked first (no terminal here: refused), then the API's code.
      expect((await skiff(["nodes", "revoke", "node-1"])).code).toBe(2);
      expectCodedError(
        await skiff(["nodes", "revoke", "node-1", "--yes", "--reason", "retired"]),
        "NODE_NOT_EMPTY",
      );

      // Stdin is a pipe: its bytes are typed, the echo firmware sends them back.
      const con = await skiff(["vps", "console", "fw-1"], { input: "hello skiff\n" });
      expect(con.code, con.stderr).toBe(0);
      expect(con.stdout, JSON.stringify(con)).toContain("fw ready"); // the replayed screen
      expect(con.stdout, JSON.stringify(con)).toContain("hello skiff");

      // Live migration to the other node, followed to its end.
      const before = await json<{ nodeId: string; epoch: number }>(["vps", "get", "fw-1"]);
      const moved = await skiff(["vps", "migrate", "fw-1", "--max-downtime", "100ms", "--wait"]);
      expect(moved.code, moved.stderr).toBe(0);
      expect(moved.stdout).toMatch(/^state:\s+completed$/m);
      expect(moved.stdout).toMatch(/ROUND\s+PHASE\s+PAGES/);
      const after = await json<{ nodeId: string; epoch: number; state: string }>(["vps", "get", "fw-1"]);
      expect(after.nodeId).not.toBe(before.nodeId);
      expect(after).toMatchObject({ state: "running", epoch: before.epoch + 1 });
      const migrations = await json<{ items: { state: string; vpsId: string }[] }>([
        "migrations",
        "list",
        "--vps",
        "fw-1",
      ]);
      expect(migrations.items.map((m) => m.state)).toEqual(["completed"]);
      expect((await skiff(["migrations", "list"])).stdout).toMatch(/\n[0-9a-f-]{36}\s+fw-1\s+completed/);
      expectCodedError(await skiff(["migrate", "fw-1", "--to", after.nodeId]), "UNPROCESSABLE");

      expect((await skiff(["vps", "stop", "fw-1", "--wait"])).stdout).toBe("fw-1  stopped\n");
      expectCodedError(await skiff(["vps", "pause", "fw-1"]), "INVALID_STATE");
      expectCodedError(await skiff(["vps", "console", "fw-1"]), "INVALID_STATE");

      // Not at a terminal: nothing is deleted without --yes.
      expect((await skiff(["vps", "delete", "fw-1"])).code).toBe(2);
      const del = await skiff(["vps", "delete", "fw-1", "--yes", "--wait"]);
      expect(del.code, del.stderr).toBe(0);
      expect(del.stdout).toBe("fw-1  deleted\n");
      expectCodedError(await skiff(["vps", "get", "fw-1"]), "VPS_NOT_FOUND");

      const events = await skiff(["events", "--resource-type", "vps", "--all"]);
      expect(events.stdout).toMatch(/vps\/fw-1\s+\S+\s+pending → provisioning/);
      expect(events.stdout).toMatch(/→ deleted/);
    }, 120_000);

    it("follows the event stream as things happen", async () => {
      const child = spawn(process.execPath, [SKIFF, "events", "--follow", "--json", "--interval", "200ms"], {
        cwd: tmp.path,
        env: { PATH: process.env.PATH, SKIFF_API_URL: url, SKIFF_TOKEN: operatorToken },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
      });
      try {
        await new Promise((r) => setTimeout(r, 500));
        await json(["nodes", "drain", "node-1"]);
        await json(["nodes", "undrain", "node-1"]);
        await waitUntil(
          "two node events followed",
          () => out.trim().split("\n").filter(Boolean).length >= 2,
          {
            timeoutMs: 10_000,
          },
        );
        const lines = out
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { resourceType: string; id: string });
        expect(lines.every((e) => e.resourceType === "node")).toBe(true);
        expect(new Set(lines.map((e) => e.id)).size).toBe(lines.length);
      } finally {
        child.kill("SIGTERM");
      }
      const code = await new Promise((r) => child.on("close", r));
      expect(code).toBe(0);
    });
  });
});
