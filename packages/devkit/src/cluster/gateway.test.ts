// The local cluster's gateway against a real namespace and a real HTTP server standing in for the
// API's GET /v1/network-map: it takes each newer map (an interface per network appears in the
// namespace) and removes the namespace at stop. Needs root, `ip` and socat, as `npm start` does.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../process.js";
import { type RegionGateway, startRegionGateway } from "./gateway.js";

const repoRoot = resolve(import.meta.dirname, "../../../..");
const netns = `skiff-c-${randomBytes(3).toString("hex")}`;
const TOKEN = "test-operator-token";

let map: unknown = { version: 0, networks: [], ports: [], nodes: [] };
let server: Server;
let apiUrl: string;
let gateway: RegionGateway | { unavailable: string };

const addrs = () =>
  execFileSync("ip", ["-n", netns, "-br", "-4", "addr"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith("gw"));

beforeAll(async () => {
  server = createServer((req, res) => {
    const ok = req.url === "/v1/network-map" && req.headers.authorization === `Bearer ${TOKEN}`;
    res.writeHead(ok ? 200 : 403, { "content-type": "application/json" });
    res.end(JSON.stringify(ok ? map : { error: { code: "FORBIDDEN" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gateway = await startRegionGateway(repoRoot, netns, () => undefined);
});
afterAll(async () => {
  if (gateway && !("unavailable" in gateway)) await gateway.stop();
  server?.close();
});

describe("the local cluster's region gateway", () => {
  it("follows the API's map into its namespace and removes the namespace at stop", async () => {
    if ("unavailable" in gateway) throw new Error(`gateway unavailable here: ${gateway.unavailable}`);
    expect(gateway.netns).toBe(netns);
    expect(gateway.overlay).toMatch(/^127\.0\.0\.1:\d+$/);
    gateway.follow(apiUrl, TOKEN, 50);
    map = {
      version: 3,
      networks: [
        {
          id: "11111111-1111-4111-8111-111111111111",
          vni: 9,
          cidr: "10.231.0.0/24",
          gateway: { ipv4: "10.231.0.1", mac: "52:54:01:00:00:09" },
        },
      ],
      ports: [],
      nodes: [],
      gatewayNode: "gateway",
    };
    await waitUntil("the network's interface", () => addrs().some((l) => l.includes("10.231.0.1/24")));
    expect(addrs()).toHaveLength(1);
    await gateway.stop();
    const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    expect(left.split("\n").some((l) => l.split(" ")[0] === netns)).toBe(false);
  });

  it("says why when there is no gateway (no @skiff/net build where it looks)", async () => {
    const none = await startRegionGateway(join(repoRoot, "no-such-dir"), `${netns}-x`, () => undefined);
    expect(none).toEqual({ unavailable: expect.stringContaining("@skiff/net is not built") });
  });
});
