/**
 * Skiff's side: two real agents (nodes n1, n2) whose switches meet on the overlay (VXLAN over UDP
 * on 127.0.0.1), the region's gateway in a namespace of the bench's own, and three Linux guests
 * with a NIC: a and b on n1, c on n2. The bench is the control plane: it pushes the map to every
 * node and the gateway, and moves a port in the map at a migration's commit.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { createLogger } from "@skiff/common";
import { freePort, LOCAL_NETWORK_MTU } from "@skiff/devkit";
import {
  type AgentProcess,
  agentClient,
  ConsoleViewer,
  call,
  killVmms,
  linuxVm,
  makeTempDir,
  startAgent,
} from "../../../../../apps/node-agent/src/test-support/harness.js";
import { startHop } from "../../../../../apps/node-agent/src/test-support/migration-rpcs.js";
import { Gateway } from "../../gateway/gateway.js";
import type { NetworkMap } from "../../map.js";
import type { Guest } from "./probes.js";

// The agent's messages, named through the harness (this package does not depend on @skiff/proto).
type VmSpec = NonNullable<ReturnType<typeof linuxVm>["spec"]>;
type NetworkMapMsg = NonNullable<Parameters<typeof call<"applyNetworkMap">>[2]["map"]>;

type NodeName = "n1" | "n2";
const NET = {
  id: "net-bench",
  vni: 4343,
  cidr: "10.78.0.0/24",
  gateway: { ipv4: "10.78.0.1", mac: "02:00:00:4e:00:01" },
  // What the local cluster gives its networks (the overlay on loopback).
  mtu: LOCAL_NETWORK_MTU,
};
const VMS = [
  { id: "a", mac: "52:54:00:4e:00:0a", ipv4: "10.78.0.10", node: "n1" as NodeName },
  { id: "b", mac: "52:54:00:4e:00:0b", ipv4: "10.78.0.11", node: "n1" as NodeName },
  { id: "c", mac: "52:54:00:4e:00:0c", ipv4: "10.78.0.12", node: "n2" as NodeName },
];
const BOOT_MS = 600_000;
/** MigrationPhase.MIGRATION_PHASE_STOPCOPY (packages/proto), as MigrateVm reports it. */
const STOPCOPY = 2;

interface Agent {
  proc: AgentProcess;
  client: ReturnType<typeof agentClient>;
  overlayPort: number;
}

export class SkiffRegion {
  readonly guests = new Map<string, Guest>();
  private readonly placement = new Map<string, NodeName>(VMS.map((v) => [v.id, v.node]));
  private readonly epochs = new Map<string, number>(VMS.map((v) => [v.id, 1]));
  private readonly specs = new Map<string, VmSpec>();
  private readonly consoles: ConsoleViewer[] = [];
  private mapVersion = 0;
  private hops = 0;

  private constructor(
    readonly ns: string,
    private readonly tmp: ReturnType<typeof makeTempDir>,
    private readonly gateway: Gateway,
    private readonly agents: Record<NodeName, Agent>,
  ) {}

  /**
   * Agents, gateway and guests (all three, or those named), each guest booted with its address
   * from DHCP.
   */
  static async start(log: (line: string) => void, only?: readonly string[]): Promise<SkiffRegion> {
    const tmp = makeTempDir("skiff-net-bench-");
    const ns = `skiff-bench-${randomBytes(3).toString("hex")}`;
    const gateway = await Gateway.start({
      netns: ns,
      stateDir: tmp.path,
      logger: createLogger("net-bench", "warn"),
    });
    const agents = {} as Record<NodeName, Agent>;
    const region = new SkiffRegion(ns, tmp, gateway, agents);
    try {
      for (const n of ["n1", "n2"] as const) {
        const overlayPort = await freePort();
        const proc = await startAgent({
          dataDir: join(tmp.path, n),
          env: { SKIFF_AGENT_NAME: `bench-${n}`, SKIFF_AGENT_OVERLAY_PORT: String(overlayPort) },
        });
        agents[n] = { proc, client: agentClient(proc.port), overlayPort };
      }
      await region.pushMap();
      const vms = VMS.filter((v) => !only || only.includes(v.id));
      log(`skiff: agents and gateway (namespace ${ns}) up; booting ${vms.length} guests`);
      await Promise.all(vms.map((v) => region.boot(v)));
      return region;
    } catch (err) {
      await region.stop();
      throw err;
    }
  }

  private async boot(v: (typeof VMS)[number]): Promise<void> {
    const req = linuxVm(`bench-${v.id}`);
    const spec: VmSpec = {
      ...req.spec!,
      nics: [{ mac: v.mac, ipv4: v.ipv4, networkId: NET.id }],
      hostname: v.id,
      sshPublicKeys: [],
    };
    this.specs.set(v.id, spec);
    const agent = this.agents[v.node];
    await call(agent.client, "createVm", { ...req, spec });
    const shell = new ConsoleViewer(agent.client, `bench-${v.id}`, 1);
    this.consoles.push(shell);
    await shell.waitFor("init: eth0 up", BOOT_MS);
    await shell.waitFor("skiff# ", 30_000);
    this.guests.set(v.id, { name: `skiff ${v.id}`, ipv4: v.ipv4, shell, instret: () => this.instret(v.id) });
  }

  private async instret(id: string): Promise<number> {
    const res = await call(this.agents[this.placement.get(id)!].client, "getVm", { vmId: `bench-${id}` });
    return Number(res.vm?.instret ?? 0);
  }

  guest(id: "a" | "b" | "c"): Guest {
    return this.guests.get(id)!;
  }

  /**
   * Live-migrates guest `id` to the other node, and pushes the map with its port moved as soon as
   * the commit is answered (as the API's worker does). Calls `paused` when the source reports its
   * stop-and-copy (it pauses the guest then). Resolves with the hop's downtime.
   */
  async migrate(id: string, paused?: () => void): Promise<number> {
    const from = this.placement.get(id)!;
    const to: NodeName = from === "n1" ? "n2" : "n1";
    const epoch = this.epochs.get(id)!;
    const hop = await startHop({
      from: this.agents[from].client,
      to: this.agents[to].client,
      toAgentAddress: `127.0.0.1:${this.agents[to].proc.port}`,
      vmId: `bench-${id}`,
      epoch,
      spec: this.specs.get(id)!,
      migrationId: `bench-hop-${++this.hops}`,
    });
    const watch = setInterval(() => {
      if (!hop.phases.includes(STOPCOPY)) return;
      clearInterval(watch);
      paused?.();
    }, 5);
    const result = await hop.done.finally(() => clearInterval(watch));
    if (result.errorMessage) throw new Error(`migration of ${id} ${from}→${to}: ${result.errorMessage}`);
    this.placement.set(id, to);
    this.epochs.set(id, epoch + 1);
    await this.pushMap();
    return Math.round((result.stats?.downtimeMs ?? Number.NaN) * 10) / 10;
  }

  private map(): NetworkMap {
    return {
      version: ++this.mapVersion,
      networks: [NET],
      ports: VMS.map((v) => ({
        vpsId: `bench-${v.id}`,
        mac: v.mac,
        ipv4: v.ipv4,
        networkId: NET.id,
        node: `bench-${this.placement.get(v.id)}`,
        hostname: v.id,
      })),
      nodes: [
        { id: "bench-n1", host: "127.0.0.1", port: this.agents.n1.overlayPort },
        { id: "bench-n2", host: "127.0.0.1", port: this.agents.n2.overlayPort },
        this.gateway.endpoint,
      ],
      gatewayNode: this.gateway.nodeId,
    };
  }

  private async pushMap(): Promise<void> {
    const map = this.map();
    const msg: NetworkMapMsg = {
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
    await Promise.all([
      ...Object.values(this.agents).map((a) => call(a.client, "applyNetworkMap", { map: msg })),
      this.gateway.setMap(map),
    ]);
  }

  async stop(): Promise<void> {
    for (const c of this.consoles) c.close();
    for (const n of ["n1", "n2"] as const) {
      const agent = this.agents[n];
      if (!agent) continue;
      agent.client.close();
      await agent.proc.stop();
      killVmms(join(this.tmp.path, n));
    }
    await this.gateway.stop();
    this.tmp.remove();
  }
}
