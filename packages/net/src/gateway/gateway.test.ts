import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoRequest, echoVm } from "../bench/echo-vm.js";
import { testMap } from "../fixtures.test-helpers.js";
import type { NetworkMap } from "../map.js";
import { VxlanTransport } from "../overlay/vxlan-transport.js";
import { NodeSwitch } from "../switch/node-switch.js";
import { Gateway } from "./gateway.js";
import { recordPids } from "./leftovers.js";
import { gatewayUnavailableReason, ip, namespaceExists } from "./netns.js";

const run = promisify(execFile);
const unavailable = await gatewayUnavailableReason();
if (unavailable) console.warn(`gateway tests skipped: ${unavailable}`);

const A = { mac: "02:00:00:00:00:0a", ip: "10.1.0.10" };
const C = { mac: "02:00:00:00:00:0c", ip: "10.2.0.12" };
const GW1_MAC = "02:00:00:01:00:01";

function uniqueNs(): string {
  return `skiff-t-${randomBytes(4).toString("hex")}`;
}

/** Exit status of a command inside the namespace (0: success). */
async function inNs(ns: string, ...args: string[]): Promise<number> {
  try {
    await run("ip", ["netns", "exec", ns, ...args]);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? 1;
  }
}

/** The namespace's count of IPv4 packets refused for their destination (RFC 4293 ipInAddrErrors). */
async function inAddrErrors(ns: string): Promise<number> {
  const { stdout } = await run("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"]);
  const [names, values] = stdout.split("\n").filter((l) => l.startsWith("Ip:"));
  const index = names.split(/\s+/).indexOf("InAddrErrors");
  return Number(values.split(/\s+/)[index]);
}

describe.skipIf(unavailable !== undefined)("Gateway in a real network namespace", () => {
  const ns = uniqueNs();
  const stateDir = mkdtempSync(join(tmpdir(), "skiff-gw-"));
  let gateway: Gateway;
  let node: NodeSwitch;
  let transport: VxlanTransport;
  let vmA: ReturnType<typeof echoVm>;
  let vmC: ReturnType<typeof echoVm>;
  let sendFromA: (frame: Buffer) => void;

  beforeAll(async () => {
    gateway = await Gateway.start({ netns: ns, stateDir });
    try {
      await connect();
    } catch (err) {
      // A failed setup still leaves nothing behind.
      await gateway.stop();
      throw err;
    }
  });

  async function connect() {
    transport = await VxlanTransport.bind();
    node = new NodeSwitch({ nodeId: "n1", overlay: transport });
    const map: NetworkMap = testMap({
      nodes: [{ id: "n1", ...transport.address }, gateway.endpoint],
      gatewayNode: gateway.nodeId,
    });
    expect(await gateway.setMap(map)).toBe(true);
    node.setMap(map);
    vmA = echoVm(A.mac, A.ip, (frame) => portA.input(frame));
    vmC = echoVm(C.mac, C.ip, (frame) => portC.input(frame));
    const portA = node.attach("a", vmA.output);
    const portC = node.attach("c", vmC.output);
    sendFromA = (frame) => portA.input(frame);
  }

  afterAll(async () => {
    if (await namespaceExists(ns)) await gateway?.stop();
    await transport?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("reaches a VM of each network from the namespace: ping succeeds", async () => {
    expect(await inNs(ns, "ping", "-c", "3", "-i", "0.2", "-W", "5", A.ip)).toBe(0);
    expect(await inNs(ns, "ping", "-c", "3", "-i", "0.2", "-W", "5", C.ip)).toBe(0);
  });

  it("does not reach an address the map does not give out", async () => {
    expect(await inNs(ns, "ping", "-c", "1", "-W", "1", "10.1.0.99")).not.toBe(0);
  });

  it("never routes from one network to another", async () => {
    const before = await inAddrErrors(ns);
    const framesAtC = vmC.received.length;
    // a sends to c's address through its own gateway, as a guest with a default route would.
    sendFromA(echoRequest(A.mac, GW1_MAC, A.ip, C.ip));
    // Wait for the event, not for a time: the namespace's kernel has refused the packet.
    while ((await inAddrErrors(ns)) === before) await new Promise((r) => setTimeout(r, 20));
    expect(vmC.received.length).toBe(framesAtC);
    const rules = await ip("-n", ns, "rule", "show");
    expect(rules).toContain("from 10.1.0.0/24 to 10.2.0.0/24 prohibit");
    expect(rules).toContain("from 10.2.0.0/24 to 10.1.0.0/24 prohibit");
    const forward = await run("ip", ["netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward"]);
    expect(forward.stdout.trim()).toBe("0");
  });
});

describe.skipIf(unavailable !== undefined)("Gateway lifecycle", () => {
  it("removes its namespace and relays at stop", async () => {
    const ns = uniqueNs();
    const stateDir = mkdtempSync(join(tmpdir(), "skiff-gw-"));
    const gateway = await Gateway.start({ netns: ns, stateDir });
    await gateway.setMap(testMap({ nodes: [gateway.endpoint], gatewayNode: gateway.nodeId }));
    const pids = (
      JSON.parse(readFileSync(join(stateDir, `gateway-${ns}.json`), "utf8")) as { pids: number[] }
    ).pids;
    expect(pids.length).toBe(2);
    await gateway.stop();
    expect(await namespaceExists(ns)).toBe(false);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("follows the map: a network that leaves it loses its interface and its rules", async () => {
    const ns = uniqueNs();
    const stateDir = mkdtempSync(join(tmpdir(), "skiff-gw-"));
    const gateway = await Gateway.start({ netns: ns, stateDir });
    try {
      const map = testMap({ nodes: [gateway.endpoint], gatewayNode: gateway.nodeId });
      await gateway.setMap(map);
      expect(await ip("-n", ns, "-br", "link", "show")).toContain("gw102");
      const net1Only = {
        ...map,
        version: 2,
        networks: [map.networks[0]],
        ports: map.ports.filter((p) => p.networkId === "net1"),
      };
      expect(await gateway.setMap(net1Only)).toBe(true);
      expect(await gateway.setMap(map)).toBe(false); // stale: version 1
      expect(await ip("-n", ns, "-br", "link", "show")).not.toContain("gw102");
      expect(await ip("-n", ns, "-br", "link", "show")).toContain("gw101");
      expect(await ip("-n", ns, "rule", "show")).not.toContain("prohibit");
    } finally {
      await gateway.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it("cleans what a crashed run left: its relay processes and its namespace", async () => {
    const ns = uniqueNs();
    const stateDir = mkdtempSync(join(tmpdir(), "skiff-gw-"));
    // A crashed run's leftovers: the namespace (marked by an address) and a live socat relay.
    await ip("netns", "add", ns);
    await ip("-n", ns, "addr", "add", "127.1.2.3/32", "dev", "lo");
    const orphan = spawn("socat", ["-u", "UDP-RECV:0,bind=127.0.0.1", "/dev/null"], { stdio: "ignore" });
    const orphanExit = new Promise((resolve) => orphan.once("exit", resolve));
    await new Promise((resolve) => orphan.once("spawn", resolve));
    recordPids(join(stateDir, `gateway-${ns}.json`), [orphan.pid!]);

    const gateway = await Gateway.start({ netns: ns, stateDir });
    await orphanExit;
    expect(await ip("-n", ns, "addr", "show", "dev", "lo")).not.toContain("127.1.2.3");
    await gateway.stop();
    expect(await namespaceExists(ns)).toBe(false);
    rmSync(stateDir, { recursive: true, force: true });
  });
});

describe.skipIf(unavailable !== undefined)("a VM that moves between nodes, seen from the namespace", () => {
  it("stays reachable at the same address, and only its new copy gets frames", async () => {
    const ns = uniqueNs();
    const stateDir = mkdtempSync(join(tmpdir(), "skiff-gw-"));
    const gateway = await Gateway.start({ netns: ns, stateDir });
    const t1 = await VxlanTransport.bind();
    const t2 = await VxlanTransport.bind();
    try {
      const n1 = new NodeSwitch({ nodeId: "n1", overlay: t1 });
      const n2 = new NodeSwitch({ nodeId: "n2", overlay: t2 });
      const map = testMap({
        nodes: [{ id: "n1", ...t1.address }, { id: "n2", ...t2.address }, gateway.endpoint],
        gatewayNode: gateway.nodeId,
      });
      await gateway.setMap(map);
      n1.setMap(map);
      n2.setMap(map);
      const source = echoVm(A.mac, A.ip, (frame) => onSource.input(frame));
      const onSource = n1.attach("a", source.output);
      expect(await inNs(ns, "ping", "-c", "2", "-i", "0.2", "-W", "5", A.ip)).toBe(0);

      // The migration: the target VMM is plugged in on n2, the commit moves the port everywhere,
      // the source's VMM stops, n2 announces the VM.
      const target = echoVm(A.mac, A.ip, (frame) => onTarget.input(frame));
      const onTarget = n2.attach("a", target.output);
      const commit = { version: 2, kind: "movePort", vpsId: "a", node: "n2" } as const;
      expect(n2.applyUpdate(commit)).toBe(true);
      expect(gateway.applyUpdate(commit)).toBe(true);
      expect(n1.applyUpdate(commit)).toBe(true);
      expect(n2.announce("a")).toBe(true);
      const atSource = source.received.length;

      expect(await inNs(ns, "ping", "-c", "2", "-i", "0.2", "-W", "5", A.ip)).toBe(0);
      expect(source.received.length).toBe(atSource);
      expect(target.received.length).toBeGreaterThanOrEqual(2);
    } finally {
      await gateway.stop();
      await t1.close();
      await t2.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
