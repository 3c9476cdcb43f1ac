import { execFileSync, spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "./process.js";
import { startTestServices, type TestServices } from "./services.js";

const repoRoot = join(import.meta.dirname, "..", "..", "..");

/** State and process group of `pid` from /proc, or undefined once it is gone (zombies count as gone). */
function procInfo(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The name field may hold spaces and parentheses: the fields after its last ")" are fixed.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return state === "Z" || state === "X" ? undefined : { state: state!, pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      resolve(d.toString().trim());
      s.destroy();
    });
    s.on("error", reject);
  });
}

describe("test services harness", () => {
  let svc: TestServices;
  beforeAll(async () => {
    svc = await startTestServices();
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("runs a real Redis", async () => {
    expect(await ping(svc.redis.port)).toBe("+PONG");
  });

  it("runs a real PostgreSQL with the database created", () => {
    const out = execFileSync(
      "psql",
      [
        svc.postgres.url,
        "-tAc",
        "SELECT current_database() || ' ' || (SELECT count(*) FROM pg_tables)::text",
      ],
      { encoding: "utf8" },
    ).trim();
    expect(out.startsWith("skiff ")).toBe(true);
  });

  it("tears down: ports close after stop", async () => {
    const port = svc.redis.port;
    await svc.redis.stop();
    await expect(ping(port)).rejects.toThrow();
  });
});

describe("services outlive no test process", () => {
  it("Redis and PostgreSQL go away when the process that started them is SIGKILLed", async () => {
    // A process that starts them as any test does, then is killed without a chance to clean up.
    const holder = spawn(process.execPath, ["--import", "tsx", "packages/devkit/test/hold-services.ts"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise((r) => holder.once("exit", r));
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: holder.stdout! }).once("line", resolve);
      holder.once("exit", (code) => reject(new Error(`holder exited (${code}) before printing`)));
    });
    const started = JSON.parse(first) as {
      redis: { pid: number; port: number };
      postgres: { pid: number; port: number };
      dir: string;
    };
    try {
      for (const s of [started.redis, started.postgres]) {
        const info = procInfo(s.pid);
        expect(info, `pid ${s.pid} runs`).toBeDefined();
        // Their own process group: a Ctrl-C aimed at the holder's group does not reach them.
        expect(info!.pgrp).toBe(s.pid);
      }
      expect(await ping(started.redis.port)).toBe("+PONG");

      holder.kill("SIGKILL");
      await exited;
      await waitUntil(
        "Redis and PostgreSQL to be gone",
        () => procInfo(started.redis.pid) === undefined && procInfo(started.postgres.pid) === undefined,
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      await expect(ping(started.redis.port)).rejects.toThrow();
    } finally {
      for (const s of [started.redis, started.postgres]) {
        if (procInfo(s.pid)) process.kill(-s.pid, "SIGKILL");
      }
      rmSync(started.dir, { recursive: true, force: true });
    }
  });
});
