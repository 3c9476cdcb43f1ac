import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, type Logger } from "@skiff/common";
import { type MapUpdate, mtuOf, type NetworkMap, type NetworkSpec } from "../map.js";
import { VxlanTransport } from "../overlay/vxlan-transport.js";
import { NodeSwitch, type SwitchPort } from "../switch/node-switch.js";
import { forgetPids, recordPids, stopLeftoverRelays } from "./leftovers.js";
import { deleteNamespace, inNs, ip, ipBatch, type Netns, nsSysctl } from "./netns.js";
import { TapRelay } from "./tap-relay.js";

export interface GatewayOptions {
  /**
   * The namespace; created at start, deleted at stop. Default "skiff". null: the namespace this
   * process runs in (a container of its own), left as it is at stop.
   */
  netns?: Netns;
  /**
   * Let the namespace route between each network and the outside (for outbound NAT, which the
   * nftables ruleset of nat.ts adds); never between two networks. Default false: an endpoint only.
   */
  forward?: boolean;
  /** The gateway's node id: the map's `gatewayNode` and an entry of its node table. Default "gateway". */
  nodeId?: string;
  /** Where the overlay endpoint binds; default 127.0.0.1 on a port the kernel picks. */
  overlayHost?: string;
  overlayPort?: number;
  /** Where the relays' pids are kept for cleanup after a crash. */
  stateDir?: string;
  logger?: Logger;
}

interface NetworkInterface {
  spec: NetworkSpec;
  relay: TapRelay;
  port: SwitchPort;
}

/**
 * The region's gateway: a network namespace holding one interface per network (its gateway
 * address on a TAP relayed to this process), and a switch that joins the overlay as one more node.
 * The namespace is an endpoint, not a router: forwarding is off and every pair of networks has a
 * prohibit rule, so it reaches every network but carries nothing from one network to another.
 */
export class Gateway {
  readonly netns: Netns;
  readonly nodeId: string;
  readonly switch: NodeSwitch;
  private readonly interfaces = new Map<string, NetworkInterface>();
  private readonly pidFile: string;
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    options: GatewayOptions,
    readonly overlay: VxlanTransport,
    private readonly log: Logger,
  ) {
    this.netns = options.netns === undefined ? "skiff" : options.netns;
    this.nodeId = options.nodeId ?? "gateway";
    this.pidFile = join(
      options.stateDir ?? join(tmpdir(), "skiff-net"),
      `gateway-${this.netns ?? `pid-${process.pid}`}.json`,
    );
    this.switch = new NodeSwitch({ nodeId: this.nodeId, overlay, logger: log });
  }

  /** Cleans what a crashed run left, then creates the namespace. */
  static async start(options: GatewayOptions = {}): Promise<Gateway> {
    const log = options.logger ?? createLogger("net-gateway");
    const overlay = await VxlanTransport.bind({ host: options.overlayHost, port: options.overlayPort });
    const gateway = new Gateway(options, overlay, log);
    try {
      const ns = gateway.netns;
      if (ns !== null) {
        const stopped = stopLeftoverRelays(gateway.pidFile);
        await deleteNamespace(ns);
        if (stopped > 0) log.warn({ stopped, netns: ns }, "stopped relays of a previous gateway");
        await ip("netns", "add", ns);
        await ip("-n", ns, "link", "set", "dev", "lo", "up");
      }
      await nsSysctl(ns, "net.ipv4.ip_forward", options.forward ? "1" : "0");
      // IPv4 only on Skiff's networks; the switch would drop IPv6 anyway.
      await nsSysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1");
      await nsSysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1");
      // ARP from an interface's own address only: the switch would drop any other as spoofed.
      await nsSysctl(ns, "net.ipv4.conf.all.arp_announce", "2");
      await nsSysctl(ns, "net.ipv4.conf.all.arp_ignore", "1");
    } catch (err) {
      await gateway.stop();
      throw err;
    }
    return gateway;
  }

  /** The overlay endpoint, for the map's node table. */
  get endpoint(): { id: string; host: string; port: number } {
    return { id: this.nodeId, ...this.overlay.address };
  }

  /** A whole map: the switch takes it, and the namespace gets an interface per network. */
  setMap(map: NetworkMap): Promise<boolean> {
    return this.serialized(async () => {
      if (!this.switch.setMap(map)) return false;
      await this.reconcile(map.networks);
      return true;
    });
  }

  applyUpdate(update: MapUpdate): boolean {
    return this.switch.applyUpdate(update);
  }

  /** Stops the relays and deletes the namespace (and with it every interface and rule). */
  stop(): Promise<void> {
    return this.serialized(async () => {
      for (const id of [...this.interfaces.keys()]) await this.removeInterface(id);
      if (this.netns !== null) {
        await deleteNamespace(this.netns).catch((err) => this.log.warn({ err }, "namespace not deleted"));
      }
      forgetPids(this.pidFile);
      await this.overlay.close();
    });
  }

  private serialized<T>(job: () => Promise<T>): Promise<T> {
    const result = this.queue.then(job);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async reconcile(networks: NetworkSpec[]): Promise<void> {
    const wanted = new Map(networks.map((n) => [n.id, n]));
    for (const [id, iface] of this.interfaces) {
      const spec = wanted.get(id);
      if (
        !spec ||
        spec.vni !== iface.spec.vni ||
        spec.cidr !== iface.spec.cidr ||
        spec.gateway.mac !== iface.spec.gateway.mac ||
        spec.gateway.ipv4 !== iface.spec.gateway.ipv4
      ) {
        await this.removeInterface(id);
      }
    }
    for (const spec of networks) {
      if (!this.interfaces.has(spec.id)) await this.addInterface(spec);
    }
    await this.isolate(networks);
  }

  private async addInterface(spec: NetworkSpec): Promise<void> {
    const prefix = spec.cidr.split("/")[1];
    let port: SwitchPort | undefined;
    const relay = await TapRelay.start({
      netns: this.netns,
      name: `gw${spec.vni}`,
      mac: spec.gateway.mac,
      address: `${spec.gateway.ipv4}/${prefix}`,
      mtu: mtuOf(spec),
      onFrame: (frame) => port?.input(frame),
      logger: this.log,
    });
    port = this.switch.attachGateway(spec.id, (frame) => relay.send(frame));
    this.interfaces.set(spec.id, { spec, relay, port });
    this.recordPids();
    this.log.info(
      { netns: this.netns, network: spec.id, address: spec.gateway.ipv4 },
      "gateway interface up",
    );
  }

  private async removeInterface(id: string): Promise<void> {
    const iface = this.interfaces.get(id);
    if (!iface) return;
    this.interfaces.delete(id);
    iface.port.detach();
    await iface.relay.stop();
    this.recordPids();
  }

  /** One prohibit rule per ordered pair of networks, rebuilt from scratch at each map. */
  private async isolate(networks: NetworkSpec[]): Promise<void> {
    const existing = await ip(...inNs(this.netns, "rule", "show", "priority", `${RULE_PRIORITY}`));
    const commands = existing
      .split("\n")
      .filter((line) => line.trim())
      .map(() => `rule del priority ${RULE_PRIORITY}`);
    for (const from of networks) {
      for (const to of networks) {
        if (from.id !== to.id)
          commands.push(`rule add priority ${RULE_PRIORITY} from ${from.cidr} to ${to.cidr} prohibit`);
      }
    }
    await ipBatch(this.netns, commands);
  }

  private recordPids(): void {
    recordPids(
      this.pidFile,
      [...this.interfaces.values()].map((i) => i.relay.pid),
    );
  }
}

const RULE_PRIORITY = 100;
