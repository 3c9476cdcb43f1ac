/**
 * The NAT ruleset: its text, its refusals, and once loaded by the real nft in a gateway namespace
 * between a VPS namespace and an "outside" one (all three this test's own, TEST-NET-1 addresses):
 * the outside sees the VPS's connection from the gateway's uplink address, a denied range is never
 * reached, and the outside cannot open a connection to the VPS.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natRuleset } from "./nat.js";
import {
  commandExists,
  deleteNamespace,
  gatewayUnavailableReason,
  ip,
  nsSysctl,
  runWithInput,
} from "./netns.js";

const run = promisify(execFile);

describe("natRuleset", () => {
  it("masquerades the pool out of the uplink and forwards nothing else to or from the pool", () => {
    const rules = natRuleset({ pool: "10.200.0.0/16", uplink: "eth0", deny: ["172.16.0.0/12"] });
    const forward = rules.slice(rules.indexOf("chain forward"), rules.indexOf("chain postrouting"));
    expect(forward.split("\n").map((l) => l.trim())).toEqual([
      "chain forward {",
      "type filter hook forward priority filter; policy accept;",
      "ct state established,related accept",
      "ip saddr 10.200.0.0/16 ip daddr { 10.200.0.0/16, 172.16.0.0/12 } drop",
      'ip saddr 10.200.0.0/16 oifname "eth0" accept',
      "ip saddr 10.200.0.0/16 drop",
      "ip daddr 10.200.0.0/16 drop",
      "}",
      "",
    ]);
    expect(rules).toContain('ip saddr 10.200.0.0/16 oifname "eth0" masquerade');
    expect(rules.startsWith("add table ip skiff_nat\ndelete table ip skiff_nat\n")).toBe(true);
  });

  it("refuses what is not a CIDR or a name, with a code", () => {
    for (const bad of [
      { pool: "10.200.0.0", uplink: "eth0" },
      { pool: "10.300.0.0/16", uplink: "eth0" },
      { pool: "10.200.0.0/16", uplink: 'eth0" accept' },
      { pool: "10.200.0.0/16", uplink: "eth0", deny: ["0.0.0.0/33"] },
    ]) {
      expect(() => natRuleset(bad)).toThrow(expect.objectContaining({ code: "NET_NAT_INVALID" }));
    }
  });
});

const unavailable =
  (await gatewayUnavailableReason()) ?? ((await commandExists("nft")) ? undefined : "no nft");
const tag = randomBytes(3).toString("hex");
const NS = { vps: `skiff-nat-vps-${tag}`, gw: `skiff-nat-gw-${tag}`, out: `skiff-nat-out-${tag}` };

/** Runs node in a namespace with a script; resolves its stdout. */
async function nodeIn(ns: string, script: string): Promise<string> {
  const { stdout } = await run("ip", ["netns", "exec", ns, process.execPath, "-e", script], {
    timeout: 15_000,
  });
  return stdout.trim();
}

/** A connection's outcome from the VPS: the address the server saw, or "no connection". */
const CONNECT = (host: string) => `
const s = require("node:net").connect({ host: "${host}", port: 7000, timeout: 2000 });
s.on("data", (b) => { console.log(b.toString()); s.destroy(); });
s.on("timeout", () => { console.log("no connection"); s.destroy(); });
s.on("error", () => console.log("no connection"));
`;

/** `nft -f -` in the gateway namespace. */
const load = (rules: string) => runWithInput("ip", ["netns", "exec", NS.gw, "nft", "-f", "-"], rules);

describe.skipIf(unavailable !== undefined)("NAT loaded by nft in a gateway namespace", () => {
  const servers: ReturnType<typeof spawn>[] = [];

  /** A server in `ns` that answers every connection with the address it came from. */
  async function serve(ns: string): Promise<void> {
    const server = spawn("ip", [
      ...["netns", "exec", ns, process.execPath, "-e"],
      `require("node:net").createServer((s) => s.end(s.remoteAddress)).listen(7000, "0.0.0.0", () => console.log("up"));`,
    ]);
    servers.push(server);
    await new Promise((resolve) => server.stdout.once("data", resolve));
  }

  beforeAll(async () => {
    for (const ns of Object.values(NS)) await ip("netns", "add", ns);
    // vps --(10.200.0.0/24)-- gw --(192.0.2.0/24, the uplink)-- out
    await ip("-n", NS.vps, "link", "add", "eth0", "type", "veth", "peer", "name", "gw200", "netns", NS.gw);
    await ip("-n", NS.gw, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", NS.out);
    const setup: [string, string, string][] = [
      [NS.vps, "eth0", "10.200.0.2/24"],
      [NS.gw, "gw200", "10.200.0.1/24"],
      [NS.gw, "uplink", "192.0.2.1/24"],
      [NS.out, "eth0", "192.0.2.2/24"],
    ];
    for (const [ns, dev, addr] of setup) {
      await ip("-n", ns, "addr", "add", addr, "dev", dev);
      await ip("-n", ns, "link", "set", "dev", dev, "up");
    }
    await ip("-n", NS.out, "addr", "add", "192.0.2.200/24", "dev", "eth0");
    await ip("-n", NS.vps, "route", "add", "default", "via", "10.200.0.1");
    // The outside knows the way in: only the ruleset keeps it out.
    await ip("-n", NS.out, "route", "add", "10.200.0.0/16", "via", "192.0.2.1");
    await nsSysctl(NS.gw, "net.ipv4.ip_forward", "1");
    await load(natRuleset({ pool: "10.200.0.0/16", uplink: "uplink", deny: ["192.0.2.128/25"] }));
    await serve(NS.out);
    await serve(NS.vps);
  }, 60_000);

  afterAll(async () => {
    for (const server of servers) server.kill();
    for (const ns of Object.values(NS)) await deleteNamespace(ns);
  });

  it("gets a VPS's connection out with the uplink's address, never into a denied range, and none in", async () => {
    expect(await nodeIn(NS.vps, CONNECT("192.0.2.2"))).toBe("192.0.2.1");
    expect(await nodeIn(NS.vps, CONNECT("192.0.2.200"))).toBe("no connection");
    expect(await nodeIn(NS.out, CONNECT("10.200.0.2"))).toBe("no connection");
    // Loading it again replaces the table rather than adding a second copy of its rules.
    await load(natRuleset({ pool: "10.200.0.0/16", uplink: "uplink" }));
    const { stdout } = await run("ip", ["netns", "exec", NS.gw, "nft", "list", "ruleset"]);
    expect(stdout.match(/masquerade/g)).toHaveLength(1);
    expect(stdout).not.toContain("192.0.2.128/25");
  }, 60_000);
});
