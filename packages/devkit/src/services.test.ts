import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServices, type TestServices } from "./services.js";

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
