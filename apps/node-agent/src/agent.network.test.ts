/**
 * VPS networks on real agents: two agents (nodes n1, n2) with their switches on the overlay, three
 * Linux VMs with a NIC (two on n1, one on n2), a map applied through ApplyNetworkMap, the region's
 * gateway in a network namespace of this test's own, and a probe node in this process (one more
 * switch on the overlay with a stand-in VM that records what reaches it). Each guest configures
 * eth0 by DHCP from the switch; the gateway's namespace pings every guest (the guest kernel answers
 * ICMP); a live migration keeps the ping going and the destination announces the VM; a TCP
 * connection to a guest's echo service streams through ten migrations; an agent restart brings its
 * VMs' links back.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, LOCAL_NETWORK_MTU } from "@skiff/devkit";
import { Gateway, gatewayUnavailableReason, type NetworkMap, NodeSwitch, VxlanTransport } from "@skiff/net";
import { MigrationOutcome, type NetworkMap as NetworkMapMsg, type VmSpec } from "@skiff/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentProcess,
  agentClient,
  ConsoleViewer,
  call,
  killVmms,
  LINUX,
  linuxVm,
  makeTempDir,
  startAgent,
  waitUntil,
} from "./test-support/harness.js";
import { startHop } from "./test-support/migration-rpcs.js";

const run = promisify(execFile);
const BOOT_MS = 300_000;
const unavailable = await gatewayUnavailableReason();
if (unavailable) console.warn(`network tests through the gateway skipped: ${unavailable}`);

const NET = {
  id: "net-t",
  vni: 4242,
  cidr: "10.77.0.0/24",
  gateway: { ipv4: "10.77.0.1", mac: "02:00:00:4d:00:01" },
  mtu: LOCAL_NETWORK_MTU,
};
type NodeName = "n1" | "n2";
const VMS = [
  { id: "net-a", mac: "52:54:00:4d:00:0a", ipv4: "10.77.0.10", node: "n1" as NodeName },
  { id: "net-b", mac: "52:54:00:4d:00:0b", ipv4: "10.77.0.11", node: "n1" as NodeName },
  { id: "net-c", mac: "52:54:00:4d:00:0c", ipv4: "10.77.0.12", node: "n2" as NodeName },
];
const PROBE = { vpsId: "probe", mac: "02:00:00:4d:00:99", ipv4: "10.77.0.99" };

const tmp = makeTempDir("skiff-agent-net-");
const ns = `skiff-t-${randomBytes(4).toString("hex")}`;
const agents = {} as Record<NodeName, { proc: AgentProcess; client: ReturnType<typeof agentClient> }>;
const overlayPorts = {} as Record<NodeName, number>;
const consoles = new Map<string, ConsoleViewer>();
const specs = new Map<string, VmSpec>();
let gateway: Gateway | undefined;
let probeOverlay: VxlanTransport;
let probe: NodeSwitch;
/** Frames that reached the probe's stand-in VM. */
const probeFrames: Buffer[] = [];
let mapVersion = 0;

function nodeId(n: NodeName): string {
  return `net-${n}`;
}

async function up(n: NodeName): Promise<void> {
  const proc = await startAgent({
    dataDir: join(tmp.path, n),
    ...(agents[n] ? { port: agents[n].proc.port } : {}),
    env: { SKIFF_AGENT_NAME: nodeId(n), SKIFF_AGENT_OVERLAY_PORT: String(overlayPorts[n]) },
  });
  agents[n]?.client.close();
  agents[n] = { proc, client: agentClient(proc.port) };
}

/** The region's map with each VM where `placement` says. */
function regionMap(placement: Record<string, NodeName>): NetworkMap {
  return {
    version: ++mapVersion,
    networks: [NET],
    ports: [
      ...VMS.map((v) => ({
        vpsId: v.id,
        mac: v.mac,
        ipv4: v.ipv4,
        networkId: NET.id,
        node: nodeId(placement[v.id] ?? v.node),
        hostname: v.id,
      })),
      { ...PROBE, networkId: NET.id, node: "probe", hostname: "probe" },
    ],
    nodes: [
      { id: nodeId("n1"), host: "127.0.0.1", port: overlayPorts.n1 },
      { id: nodeId("n2"), host: "127.0.0.1", port: overlayPorts.n2 },
      { id: "probe", ...probeOverlay.address },
      ...(gateway ? [gateway.endpoint] : []),
    ],
    ...(gateway ? { gatewayNode: gateway.nodeId } : {}),
  };
}

function toProto(map: NetworkMap): NetworkMapMsg {
  return {
    version: map.version,
    networks: map.networks.map((n) => ({
      id: n.id,
      vni: n.vni,
      cidr: n.cidr,
      gatewayIpv4: n.gateway.ipv4,
      gatewayMac: n.gateway.mac,
      mtu: n.mtu ?? 0,
      dns: [],
    })),
    ports: map.ports.map((p) => ({ ...p })),
    nodes: map.nodes.map((n) => ({ ...n })),
    gatewayNode: map.gatewayNode ?? "",
  };
}

/** What the control plane does: the same map to every node's switch and the gateway. */
async function pushMap(map: NetworkMap, to: NodeName[] = ["n1", "n2"]): Promise<void> {
  for (const n of to) {
    const res = await call(agents[n].client, "applyNetworkMap", { map: toProto(map) });
    expect(res.version).toBe(map.version);
  }
  probe.setMap(map);
  if (gateway) await gateway.setMap(map);
}

/** Exit status of one ping from the gateway's namespace (0: answered). */
async function pingOnce(ip: string): Promise<number> {
  try {
    await run("ip", ["netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "2", ip]);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? 1;
  }
}

async function pingable(ip: string, timeoutMs = 60_000): Promise<void> {
  await waitUntil(`${ip} answers ping from the gateway`, async () => (await pingOnce(ip)) === 0, {
    timeoutMs,
    intervalMs: 500,
  });
}

beforeAll(async () => {
  overlayPorts.n1 = await freePort();
  overlayPorts.n2 = await freePort();
  probeOverlay = await VxlanTransport.bind({ host: "127.0.0.1" });
  probe = new NodeSwitch({ nodeId: "probe", overlay: probeOverlay });
  probe.attach(PROBE.vpsId, (frame) => {
    probeFrames.push(Buffer.from(frame));
    return true;
  });
  if (!unavailable) gateway = await Gateway.start({ netns: ns, stateDir: tmp.path });
  await Promise.all([up("n1"), up("n2")]);
}, 120_000);

afterAll(async () => {
  for (const c of consoles.values()) c.close();
  for (const n of ["n1", "n2"] as const) {
    agents[n]?.client.close();
    await agents[n]?.proc.stop();
    killVmms(join(tmp.path, n));
  }
  await gateway?.stop();
  await probeOverlay?.close();
  tmp.remove();
}, 60_000);

describe.skipIf(!existsSync(LINUX.kernel))("agents with VPS networks", () => {
  it("applies a map through ApplyNetworkMap, newer versions only, and refuses an invalid one", async () => {
    const map = regionMap({});
    await pushMap(map);
    // A late copy of an older map changes nothing; the answer is the version held.
    const stale = await call(agents.n1.client, "applyNetworkMap", { map: { ...toProto(map), version: 0 } });
    expect(stale.version).toBe(map.version);
    const bad = toProto({ ...map, version: 999 });
    bad.ports[0] = { ...bad.ports[0]!, ipv4: "10.99.0.5" }; // outside the network
    await expect(call(agents.n1.client, "applyNetworkMap", { map: bad })).rejects.toMatchObject({
      details: expect.stringMatching(/^NETWORK_MAP_INVALID: /),
    });
  });

  it(
    "boots three Linux VMs with a NIC on two nodes; each gets its address by DHCP from its switch",
    async () => {
      await Promise.all(
        VMS.map(async (v) => {
          const req = linuxVm(v.id);
          const spec: VmSpec = { ...req.spec!, nics: [{ mac: v.mac, ipv4: v.ipv4, networkId: NET.id }] };
          specs.set(v.id, spec);
          await call(agents[v.node].client, "createVm", { ...req, spec });
          consoles.set(v.id, new ConsoleViewer(agents[v.node].client, v.id, 1));
        }),
      );
      await Promise.all(
        VMS.map(async (v) => {
          const c = consoles.get(v.id)!;
          await c.waitFor("IP-Config: Complete", BOOT_MS);
          await c.waitFor(new RegExp(`ipaddr=${v.ipv4.replaceAll(".", "\\.")},`), 10_000);
          expect(c.text).toContain(`hwaddr=${v.mac}`);
          // The network's MTU came with the lease, and the kernel set it on the interface.
          expect(c.text).toContain(`mtu=${LOCAL_NETWORK_MTU}`);
          c.type("cat /sys/class/net/eth0/mtu\n");
          // Alone on its line, or behind the prompt when the shell came up after the typing.
          await c.waitFor(new RegExp(`(^|# )${LOCAL_NETWORK_MTU}\r?$`, "m"), 60_000);
        }),
      );
    },
    BOOT_MS + 60_000,
  );

  describe.skipIf(unavailable !== undefined)("through the gateway's namespace", () => {
    it("pings every VM, on either node", async () => {
      for (const v of VMS) await pingable(v.ipv4);
    }, 180_000);

    it("keeps a continuous ping going across a live migration; the destination announces the VM", async () => {
      const vm = VMS[0]!; // n1 → n2
      const seqs: number[] = [];
      const pinger: ChildProcess = spawn("ip", [
        "netns",
        "exec",
        ns,
        "ping",
        "-n",
        "-i",
        "0.2",
        "-W",
        "1",
        vm.ipv4,
      ]);
      pinger.stdout?.on("data", (b: Buffer) => {
        for (const m of b.toString().matchAll(/icmp_seq=(\d+)/g)) seqs.push(Number(m[1]));
      });
      try {
        await waitUntil("the ping answered before the hop", () => seqs.length > 0, { timeoutMs: 30_000 });
        probeFrames.length = 0;
        const hop = await startHop({
          from: agents.n1.client,
          to: agents.n2.client,
          toAgentAddress: `127.0.0.1:${agents.n2.proc.port}`,
          vmId: vm.id,
          epoch: 1,
          spec: specs.get(vm.id)!,
          migrationId: "net-hop-1",
        });
        const result = await hop.done;
        expect(result.errorMessage).toBe("");
        expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_COMMITTED);
        const repliesAtCommit = seqs.length;
        const lastSeqAtCommit = Math.max(...seqs);
        // The destination claimed the port and announced it: its gratuitous ARP reached the probe
        // node (one of the network's other nodes) before any new map.
        await waitUntil(
          "the destination's announcement at the probe",
          () =>
            probeFrames.some(
              (f) =>
                f.readUInt16BE(12) === 0x0806 &&
                f.subarray(6, 12).equals(Buffer.from(vm.mac.replaceAll(":", ""), "hex")),
            ),
          { timeoutMs: 10_000 },
        );
        // The control plane pushes the map with the port moved right after the commit: until then
        // the other nodes (the gateway's here) still send to the source, which has no link for it.
        await pushMap(regionMap({ [vm.id]: "n2" }));
        await waitUntil("ping replies after the hop", () => seqs.some((s) => s > lastSeqAtCommit + 2), {
          timeoutMs: 30_000,
        });
        const sent = Math.max(...seqs);
        console.log(
          `ping across the hop: downtime ${result.stats?.downtimeMs} ms, ${repliesAtCommit} replies before the commit, ${sent - seqs.length} of ${sent} lost`,
        );
      } finally {
        pinger.kill("SIGINT");
      }
      await pingable(vm.ipv4);
    }, 180_000);

    it("keeps a TCP connection to the VM's echo port streaming through 10 live migrations: every byte back, in order", async () => {
      const vm = VMS[2]!; // starts on n2
      const placement: Record<string, NodeName> = { [VMS[0]!.id]: "n2", [vm.id]: "n2" };
      // socat in the gateway's namespace: its stdin goes to the guest's echo service (port 7), what
      // comes back to its stdout. A reset or a timeout would end it with an error.
      const conn = spawn("ip", ["netns", "exec", ns, "socat", "-T", "60", "-", `TCP:${vm.ipv4}:7`]);
      const back: Buffer[] = [];
      let backBytes = 0;
      let lastArrival = Date.now();
      let longestStallMs = 0;
      let stderr = "";
      let exited: number | null | undefined;
      conn.stdout.on("data", (b: Buffer) => {
        const now = Date.now();
        longestStallMs = Math.max(longestStallMs, now - lastArrival);
        lastArrival = now;
        back.push(b);
        backBytes += b.length;
      });
      conn.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      conn.on("exit", (code) => {
        exited = code;
      });
      const sent: Buffer[] = [];
      let sentBytes = 0;
      let line = 0;
      // ~16 KB/s of numbered lines, written whatever happens to the VM.
      const writer = setInterval(() => {
        for (let i = 0; i < 8; i++) {
          const b = Buffer.from(`${String(line++).padStart(8, "0")} skiff keeps this connection\n`);
          sent.push(b);
          sentBytes += b.length;
          conn.stdin.write(b);
        }
      }, 20);
      const hops: string[] = [];
      try {
        await waitUntil("the echo flows", () => backBytes > 0, { timeoutMs: 30_000 });
        let epoch = 1;
        for (let i = 0; i < 10; i++) {
          const from = placement[vm.id]!;
          const to: NodeName = from === "n1" ? "n2" : "n1";
          const before = backBytes;
          const hop = await startHop({
            from: agents[from].client,
            to: agents[to].client,
            toAgentAddress: `127.0.0.1:${agents[to].proc.port}`,
            vmId: vm.id,
            epoch,
            spec: specs.get(vm.id)!,
            migrationId: `tcp-hop-${i}`,
          });
          const result = await hop.done;
          expect(result.errorMessage).toBe("");
          expect(result.outcome).toBe(MigrationOutcome.MIGRATION_OUTCOME_COMMITTED);
          epoch++;
          placement[vm.id] = to;
          await pushMap(regionMap(placement));
          hops.push(`${from}→${to} ${result.stats?.downtimeMs.toFixed(1)} ms`);
          // The stream flows again on the new node before the next hop.
          await waitUntil(`echo after hop ${i + 1}`, () => backBytes > before + 1000, { timeoutMs: 30_000 });
        }
      } finally {
        clearInterval(writer);
      }
      await waitUntil("every byte echoed", () => backBytes >= sentBytes || exited !== undefined, {
        timeoutMs: 60_000,
      });
      conn.stdin.end();
      expect(exited, stderr).toBeUndefined();
      expect(Buffer.concat(back).equals(Buffer.concat(sent))).toBe(true);
      console.log(
        `TCP echo through 10 hops: ${sentBytes} bytes back in order, longest stall ${longestStallMs} ms; hops ${hops.join(", ")}`,
      );
      conn.kill();
    }, 300_000);

    it("brings a VM's link back after its agent restarts", async () => {
      const vm = VMS[1]!; // on n1
      await agents.n1.proc.stop();
      await up("n1");
      // A new switch holds no map until the control plane sends it again.
      await pushMap(regionMap({ [VMS[0]!.id]: "n2" }), ["n1"]);
      await pingable(vm.ipv4);
    }, 180_000);
  });
});
