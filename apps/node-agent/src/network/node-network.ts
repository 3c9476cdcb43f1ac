/**
 * This node's part of the VPS networks: one NodeSwitch (packages/net) with its overlay endpoint,
 * the map the control plane gave it, and one port link server per local NIC (the VMM connects
 * to it). The switch forwards by the map only; the agent never edits the map except to claim a
 * port at a migration's commit, until the control plane's next map says the same.
 */
import { errorMessage, type Logger, SkiffError } from "@skiff/common";
import { type GuestMetadata, type NetworkMap, NodeSwitch, PortLinkServer, VxlanTransport } from "@skiff/net";
import { agentError } from "../errors.js";

export interface NodeNetworkOptions {
  /** The node's name: its id in the map's port and node tables. */
  readonly nodeId: string;
  readonly bindHost: string;
  readonly advertiseHost: string;
  /** 0: a port the kernel picks. */
  readonly overlayPort: number;
  readonly log: Logger;
}

export class NodeNetwork {
  private readonly links = new Map<string, PortLinkServer>();
  private readonly log: Logger;

  private constructor(
    readonly sw: NodeSwitch,
    private readonly overlay: VxlanTransport,
    /** Where other nodes send this node's overlay traffic, "host:port". */
    readonly endpoint: string,
    log: Logger,
  ) {
    this.log = log;
  }

  static async start(opts: NodeNetworkOptions): Promise<NodeNetwork> {
    const log = opts.log.child({ part: "network" });
    const overlay = await VxlanTransport.bind({ host: opts.bindHost, port: opts.overlayPort });
    const sw = new NodeSwitch({ nodeId: opts.nodeId, overlay, logger: log });
    const endpoint = `${opts.advertiseHost}:${overlay.address.port}`;
    log.info({ endpoint, nodeId: opts.nodeId }, "node switch listening");
    return new NodeNetwork(sw, overlay, endpoint, log);
  }

  /** The map version the switch holds (-1: none yet). */
  get version(): number {
    return this.sw.mapVersion;
  }

  /** A whole map from the control plane; an older or equal version is ignored. Returns the version held. */
  apply(map: NetworkMap): number {
    try {
      if (this.sw.setMap(map)) this.log.info({ version: map.version }, "network map applied");
    } catch (err) {
      throw agentError(
        "NETWORK_MAP_INVALID",
        `network map ${map.version}: ${errorMessage(err)}`,
        err instanceof SkiffError ? { cause: err.code } : undefined,
      );
    }
    return this.sw.mapVersion;
  }

  /**
   * Plugs a VM's NIC in: the VMM connects to `socketPath` (again after a restart of either side).
   * `guest` is what the metadata service answers the VM beyond the map (hostname, SSH keys).
   */
  async openPort(vmId: string, socketPath: string, guest?: GuestMetadata): Promise<void> {
    await this.links.get(vmId)?.close();
    this.links.delete(vmId);
    this.sw.setGuestMetadata(vmId, guest);
    this.links.set(vmId, await PortLinkServer.listen(socketPath, this.sw, vmId, this.log));
  }

  async closePort(vmId: string): Promise<void> {
    const link = this.links.get(vmId);
    if (!link) return;
    this.links.delete(vmId);
    this.sw.setGuestMetadata(vmId, undefined);
    await link.close();
  }

  /**
   * A migration committed here: frames for the VM come to this node from now on, and the network
   * learns it from a gratuitous ARP. The control plane's next map says the same.
   */
  claim(vmId: string): boolean {
    // Usually done already: the VMM claims the port on its link at the guest's first instruction.
    // The announcement also tells the source node, which holds the frames that reached it during
    // the pause and passes them here when it hears it.
    const from = this.sw.nodeOf(vmId);
    if (!this.sw.claimPort(vmId)) {
      this.log.warn({ vmId }, "migrated VM has no port in the network map");
      return false;
    }
    if (from !== this.sw.nodeId) this.log.info({ vmId, from }, "port claimed at migration commit");
    return true;
  }

  /**
   * A migration from this node committed on `node`: the port lives there now, and the frames kept
   * during the pause go there (if the destination's announcement has not brought them already).
   */
  handOver(vmId: string, node: string): void {
    if (node !== "") this.sw.handOver(vmId, node);
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.close()));
    this.links.clear();
    this.sw.close();
    await this.overlay.close();
  }
}
