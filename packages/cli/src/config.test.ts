import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir } from "@skiff/devkit";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_API_URL, resolveConnection } from "./config.js";

const tmp = makeTempDir("skiff-cli-config-");
afterAll(() => tmp.remove());

/** A checkout where `npm start` ran: .skiff/cluster/{ports,secrets}.json. */
function fakeCheckout(name: string, apiPort: number, operatorToken: string): string {
  const root = join(tmp.path, name);
  mkdirSync(join(root, ".skiff/cluster"), { recursive: true });
  mkdirSync(join(root, "apps/api"), { recursive: true });
  writeFileSync(join(root, ".skiff/cluster/ports.json"), JSON.stringify({ api: apiPort, redis: 1 }));
  writeFileSync(join(root, ".skiff/cluster/secrets.json"), JSON.stringify({ operatorToken }));
  return root;
}

describe("resolveConnection", () => {
  it("takes flags first, then the environment", () => {
    const env = { SKIFF_API_URL: "http://env:1", SKIFF_TOKEN: "env-token" };
    expect(
      resolveConnection({ apiFlag: "http://flag:2", tokenFlag: "flag-token", env, cwd: "/" }),
    ).toMatchObject({
      baseUrl: "http://flag:2",
      token: "flag-token",
    });
    expect(resolveConnection({ env, cwd: "/" })).toMatchObject({
      baseUrl: "http://env:1",
      token: "env-token",
    });
  });

  it("finds the local cluster from anywhere inside the checkout", () => {
    const root = fakeCheckout("a", 40123, "skiff_op_local");
    const c = resolveConnection({ env: {}, cwd: join(root, "apps/api") });
    expect(c).toMatchObject({ baseUrl: "http://127.0.0.1:40123", token: "skiff_op_local" });
    expect(c.source).toContain(".skiff/cluster");
    // A refused token is then blamed on the file it came from.
    expect(c.tokenSource).toBe(join(root, ".skiff/cluster/secrets.json"));
    // SKIFF_TOKEN still wins over the cluster's operator token (act as a tenant locally).
    expect(resolveConnection({ env: { SKIFF_TOKEN: "tenant" }, cwd: root }).token).toBe("tenant");
    // The port and token fixed at start time win over the files.
    expect(
      resolveConnection({ env: { SKIFF_API_PORT: "9999", SKIFF_OPERATOR_TOKEN: "fixed" }, cwd: root }),
    ).toMatchObject({ baseUrl: "http://127.0.0.1:9999", token: "fixed" });
  });

  it("never sends the local cluster's token to an API named elsewhere", () => {
    const root = fakeCheckout("b", 40124, "skiff_op_local");
    expect(
      resolveConnection({ env: { SKIFF_API_URL: "https://prod.example" }, cwd: root }).token,
    ).toBeUndefined();
  });

  it("uses what `skiff login` saved, and sends its token to that API only", () => {
    const file = join(tmp.path, "login.json");
    writeFileSync(file, JSON.stringify({ apiUrl: "https://cloud.example/", token: "skiff_tn_saved" }));
    const env = { SKIFF_CONFIG: file };
    expect(resolveConnection({ env, cwd: "/" })).toMatchObject({
      baseUrl: "https://cloud.example/",
      token: "skiff_tn_saved",
    });
    // The same API named by the environment still gets the saved token; another API does not.
    expect(
      resolveConnection({ env: { ...env, SKIFF_API_URL: "https://cloud.example" }, cwd: "/" }).token,
    ).toBe("skiff_tn_saved");
    expect(
      resolveConnection({ env: { ...env, SKIFF_API_URL: "https://other.example" }, cwd: "/" }).token,
    ).toBeUndefined();
    // A saved login wins over the local cluster's files.
    const root = fakeCheckout("c", 40125, "skiff_op_local");
    expect(resolveConnection({ env, cwd: root }).token).toBe("skiff_tn_saved");
  });

  it("falls back to the default address without a token", () => {
    expect(resolveConnection({ env: {}, cwd: tmp.path })).toMatchObject({
      baseUrl: DEFAULT_API_URL,
      token: undefined,
    });
  });
});
