/**
 * The production gateway process (main.ts) as docker-compose runs it: in a namespace of its own
 * (here one the test makes, standing in for the container), following a map served by a stand-in
 * for the API inside that namespace, with outbound NAT out of an uplink.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testMap } from "../fixtures.test-helpers.js";
import { commandExists, deleteNamespace, gatewayUnavailableReason, ip } from "./netns.js";

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, "../../dist/gateway/main.js");
const unavailable =
  (await gatewayUnavailableReason()) ?? ((await commandExists("nft")) ? undefined : "no nft");
if (unavailable) console.warn(`gateway process test skipped: ${unavailable}`);

/** Runs a command inside the namespace and returns its output. */
async function inNs(ns: string, ...args: string[]): Promise<string> {
  return (await run("ip", ["netns", "exec", ns, ...args])).stdout;
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    if (await check().catch(() => false)) return;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(unavailable !== undefined)("the gateway process in a namespace of its own", () => {
  const ns = `skiff-gp-${randomBytes(3).toString("hex")}`;
  const dir = mkdtempSync(join(tmpdir(), "skiff-gwp-"));
  const mapFile = join(dir, "map.json");
  let api: ChildProcess | undefined;
  let gateway: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let output = "";

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is not built (pnpm --filter @skiff/net build)`);
    // The "container": loopback up, and an uplink toward the outside that leads nowhere.
    await ip("netns", "add", ns);
    await ip("-n", ns, "link", "set", "dev", "lo", "up");
    await ip("-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "up0-far");
    writeFileSync(mapFile, JSON.stringify(testMap({ ports: [] })));
    const serve = `require("http").createServer((q, s) => { s.setHeader("content-type", "application/json"); s.end(require("fs").readFileSync(${JSON.stringify(mapFile)})); }).listen(18080, "127.0.0.1")`;
    api = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", serve], { stdio: "ignore" });
    gateway = spawn("ip", ["netns", "exec", ns, process.execPath, MAIN], {
      env: {
        ...process.env,
        SKIFF_API_URL: "http://127.0.0.1:18080",
        SKIFF_GATEWAY_TOKEN: "test",
        SKIFF_NETNS: "",
        SKIFF_GATEWAY_UPLINK: "up0",
        SKIFF_GATEWAY_DENY: "192.0.2.0/24",
        SKIFF_NETWORK_POOL: "10.0.0.0/8",
        SKIFF_GATEWAY_POLL_MS: "100",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    gateway.stdout?.on("data", (b) => (output += b));
    gateway.stderr?.on("data", (b) => (output += b));
    exited = new Promise((resolve) => gateway!.once("exit", resolve));
  });

  afterAll(async () => {
    gateway?.kill("SIGKILL");
    api?.kill("SIGKILL");
    await deleteNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives each network of the map an interface with its .1, NAT out of the uplink, nothing between networks", async () => {
    await until("both interfaces", async () => {
      const addrs = await inNs(ns, "ip", "-4", "-o", "addr", "show");
      return addrs.includes("gw101") && addrs.includes("10.1.0.1/24") && addrs.includes("10.2.0.1/24");
    }).catch((err) => {
      throw new Error(`${err}; gateway said: ${output}`);
    });
    expect((await inNs(ns, "cat", "/proc/sys/net/ipv4/ip_forward")).trim()).toBe("1");
    const nat = await inNs(ns, "nft", "list", "table", "ip", "skiff_nat");
    expect(nat).toContain('oifname "up0"');
    expect(nat).toContain("masquerade");
    expect(nat).toContain("192.0.2.0/24");
    // Routing between the two networks is refused by rule, whatever the forwarding.
    const rules = await inNs(ns, "ip", "rule", "show");
    expect(rules).toContain("from 10.1.0.0/24 to 10.2.0.0/24 prohibit");
    expect(rules).toContain("from 10.2.0.0/24 to 10.1.0.0/24 prohibit");
  });

  it("follows a newer map: a network that leaves loses its interface", async () => {
    const map = testMap({ ports: [] });
    writeFileSync(mapFile, JSON.stringify({ ...map, version: 2, networks: map.networks.slice(0, 1) }));
    await until("gw102 gone", async () => !(await inNs(ns, "ip", "-o", "link", "show")).includes("gw102"));
    expect(await inNs(ns, "ip", "-o", "link", "show")).toContain("gw101");
  });

  it("stops on SIGTERM, taking its interfaces with it", async () => {
    gateway!.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(await inNs(ns, "ip", "-o", "link", "show")).not.toContain("gw101");
  });
});
