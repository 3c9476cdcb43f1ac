import { createLogger, type Logger } from "@skiff/common";
import {
  type CompiledNetwork,
  type CompiledPort,
  MapState,
  type MapUpdate,
  type NetworkMap,
} from "../map.js";
import type { GuestMetadata } from "../metadata/documents.js";
import { METADATA_IP, MetadataService } from "../metadata/metadata-service.js";
import type { OverlayTransport } from "../overlay/transport.js";
import { BROADCAST_MAC, isGroupMac } from "../wire/address.js";
import { ARP_REQUEST, type ArpPacket, buildGratuitousArp, parseArp } from "../wire/arp.js";
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, parseDhcp } from "../wire/dhcp.js";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, type EthernetFrame, parseEthernet } from "../wire/ethernet.js";
import { IP_PROTO_UDP, parseIpv4 } from "../wire/ipv4.js";
import { parseUdp } from "../wire/udp.js";
import { parseVxlan } from "../wire/vxlan.js";
import { answerArp } from "./arp-responder.js";
import {
  countDrop,
  type DropCounts,
  type DropReason,
  newPortCounters,
  type PortCounters,
} from "./counters.js";
import { answerDhcp } from "./dhcp-server.js";
import { HoldQueue } from "./hold-queue.js";

/** Hands a frame to a VMM (or the gateway's interface). False: its queue is full, the frame was not taken. */
export type FrameOutput = (frame: Uint8Array) => boolean;

/** A local port as its owner sees it: frames from the VM go in through `input`. */
export interface SwitchPort {
  readonly counters: PortCounters;
  input(frame: Uint8Array): void;
  /**
   * The VM stops for a migration's last copy: frames for it are kept here (bounded) instead of
   * reaching a guest that can no longer take them. They go to the node the port moves to once
   * this switch learns the move (the destination's announcement, `handOver`, or a map), or to the
   * VM again if it runs on here (`resume`); never both.
   */
  hold(): void;
  /** The VM runs on here (the migration rolled back): what was kept is delivered, oldest first. */
  resume(): void;
  /**
   * A migration committed into this VM, whose guest starts running here: the port moves to this
   * node and is announced (`claimPort`). Its VMM says so on the link, ahead of any frame the guest
   * sends from here; the agent's claim when it hears of the commit is the fallback.
   */
  claim(): void;
  detach(): void;
}

export interface NodeSwitchOptions {
  nodeId: string;
  /** Absent: a switch for one node only (tests, benchmarks). */
  overlay?: OverlayTransport;
  logger?: Logger;
}

/** Who a local port speaks for: a VPS's NIC, or a network's gateway on the gateway node. */
type Owner = { kind: "vps"; vpsId: string } | { kind: "gateway"; networkId: string };

interface LocalPort extends SwitchPort {
  owner: Owner;
  output: FrameOutput;
  /** Set while the VM is paused for a migration's last copy. */
  held: HoldQueue | undefined;
}

/** The identity a sending port must use, as the map says now. */
interface Identity {
  network: CompiledNetwork;
  mac: number;
  ip: number;
  port: CompiledPort | undefined;
}

/**
 * One node's virtual switch. Forwards only inside a network and only where the map says; answers
 * ARP and DHCP itself; enforces each port's MAC and address; reaches other nodes by VXLAN.
 */
export class NodeSwitch {
  readonly nodeId: string;
  readonly drops: DropCounts = {};
  private readonly map = new MapState();
  private readonly vpsPorts = new Map<string, LocalPort>();
  private readonly gatewayPorts = new Map<string, LocalPort>();
  /** VM ports whose frames are being kept (see SwitchPort.hold). */
  private readonly holding = new Set<LocalPort>();
  /**
   * Ports whose kept frames went to the node they moved to: frames for them that still arrive
   * from the overlay (sent before their sender learnt the move) follow them there, until the
   * control plane's next map.
   */
  private readonly handedOver = new Set<string>();
  private readonly overlay: OverlayTransport | undefined;
  private readonly log: Logger;
  private readonly metadata: MetadataService;

  constructor(options: NodeSwitchOptions) {
    this.nodeId = options.nodeId;
    this.overlay = options.overlay;
    this.log = options.logger ?? createLogger("net-switch");
    this.metadata = new MetadataService({
      port: (vpsId) => {
        const port = this.map.ports.get(vpsId);
        return port?.spec.node === this.nodeId ? port : undefined;
      },
      deliver: (vpsId, frame) => {
        const local = this.vpsPorts.get(vpsId);
        if (local) this.toLocal(frame, local);
      },
    });
    this.overlay?.onDatagram((datagram, host, port) => this.fromOverlay(datagram, host, port));
  }

  get mapVersion(): number {
    return this.map.version;
  }

  /** A whole map from the control plane. Returns false (and changes nothing) when it is stale. */
  setMap(map: NetworkMap): boolean {
    const applied = this.map.replace(map);
    if (!applied)
      this.log.debug({ version: map.version, current: this.map.version }, "stale network map ignored");
    else {
      this.handedOver.clear();
      this.passOnHeld();
    }
    return applied;
  }

  /** One change (a port set, removed, moved at a migration's commit). False when it is stale. */
  applyUpdate(update: MapUpdate): boolean {
    const applied = this.map.apply(update);
    if (!applied)
      this.log.debug({ version: update.version, current: this.map.version }, "stale map update ignored");
    else this.passOnHeld();
    return applied;
  }

  /**
   * A migration's commit on this node: the port is placed here without a new map version (the
   * control plane's next map replaces it, and is not taken for stale) and announced, to the node
   * it was on too; once (the VMM claims it on its link, then its agent). False when the map has
   * no such port.
   */
  claimPort(vpsId: string): boolean {
    const port = this.map.ports.get(vpsId);
    if (!port) return false;
    const previousNode = port.spec.node;
    if (previousNode === this.nodeId) return true;
    port.spec = { ...port.spec, node: this.nodeId };
    this.handedOver.delete(vpsId);
    this.announce(vpsId, previousNode);
    return true;
  }

  /**
   * The source's side of a migration's commit, as the source agent learns it: the port lives on
   * `node` now (until the control plane's next map), and what was kept for it while its VM was
   * paused goes there. False when the map has no such port or node.
   */
  handOver(vpsId: string, node: string): boolean {
    const port = this.map.ports.get(vpsId);
    if (!port || node === this.nodeId || !this.map.nodes.has(node)) return false;
    port.spec = { ...port.spec, node };
    this.passOnHeld();
    return true;
  }

  /** The node the map (or a commit since) places a port on. */
  nodeOf(vpsId: string): string | undefined {
    return this.map.ports.get(vpsId)?.spec.node;
  }

  /** Plugs a VM's NIC in. The map decides what it may send and whether frames reach it. */
  attach(vpsId: string, output: FrameOutput): SwitchPort {
    return this.plug(this.vpsPorts, vpsId, { kind: "vps", vpsId }, output);
  }

  /** Plugs a network's gateway interface in; only useful on the map's gateway node. */
  attachGateway(networkId: string, output: FrameOutput): SwitchPort {
    return this.plug(this.gatewayPorts, networkId, { kind: "gateway", networkId }, output);
  }

  /**
   * Announces a port where the map now places it (gratuitous ARP from its MAC and address to the
   * network's other ports, here and on other nodes, and its gateway): at a migration's commit on
   * the destination node (`claimPort`), or after a map moved it here. `previousNode`, where the
   * port was before, is told too even when no other port of the network lives there: it may keep
   * frames for the port. False when the map does not place the port on this node.
   */
  announce(vpsId: string, previousNode?: string): boolean {
    const port = this.map.ports.get(vpsId);
    if (!port || port.spec.node !== this.nodeId) return false;
    const frame = buildGratuitousArp(port.mac, port.ip);
    this.broadcastAnnouncement(port.network, frame, this.vpsPorts.get(vpsId), true, previousNode);
    return true;
  }

  /**
   * What the metadata service tells a VPS beyond the map (hostname, SSH keys), from its VM spec;
   * undefined forgets it.
   */
  setGuestMetadata(vpsId: string, metadata: GuestMetadata | undefined): void {
    this.metadata.set(vpsId, metadata);
  }

  /** Stops the metadata service's timers. */
  close(): void {
    this.metadata.close();
  }

  portCounters(vpsId: string): PortCounters | undefined {
    return this.vpsPorts.get(vpsId)?.counters;
  }

  /** A new port under `key`, replacing (and detaching) any older one there. */
  private plug(registry: Map<string, LocalPort>, key: string, owner: Owner, output: FrameOutput): LocalPort {
    registry.get(key)?.detach();
    const port: LocalPort = {
      owner,
      output,
      held: undefined,
      counters: newPortCounters(),
      input: (frame) => this.input(port, frame),
      hold: () => {
        if (port.held || owner.kind !== "vps") return;
        port.held = new HoldQueue();
        this.holding.add(port);
      },
      resume: () => {
        for (const frame of this.release(port)) this.toLocal(frame, port);
      },
      claim: () => {
        if (owner.kind !== "vps" || port.held || registry.get(key) !== port) return;
        const from = this.nodeOf(owner.vpsId);
        if (from !== this.nodeId && this.claimPort(owner.vpsId))
          this.log.info({ vpsId: owner.vpsId, from }, "port claimed on its link at a migration's commit");
      },
      detach: () => {
        // A late detach of a replaced port must not unplug its successor.
        if (registry.get(key) === port) registry.delete(key);
        port.input = () => {};
        const lost = this.release(port).length;
        if (lost > 0) {
          countDrop(port.counters.drops, "holdLost", lost);
          this.log.info(
            { owner, frames: lost },
            "frames kept for a paused VM dropped: its port was unplugged",
          );
        }
      },
    };
    registry.set(key, port);
    return port;
  }

  private identity(owner: Owner): Identity | undefined {
    if (owner.kind === "vps") {
      const port = this.map.ports.get(owner.vpsId);
      if (!port || port.spec.node !== this.nodeId) return undefined;
      return { network: port.network, mac: port.mac, ip: port.ip, port };
    }
    const network = this.map.networksById.get(owner.networkId);
    if (!network || this.map.gatewayNode !== this.nodeId) return undefined;
    return { network, mac: network.gatewayMac, ip: network.gatewayIp, port: undefined };
  }

  /** Every frame a port sends is counted once: accepted (rxFrames) or dropped with its reason. */
  private input(from: LocalPort, frame: Uint8Array): void {
    const refused = this.fromLocal(from, frame);
    if (refused) countDrop(from.counters.drops, refused);
    else from.counters.rxFrames++;
  }

  private fromLocal(from: LocalPort, frame: Uint8Array): DropReason | undefined {
    const me = this.identity(from.owner);
    if (!me) return "notInMap";
    if (frame.length > me.network.maxFrame) return "oversized";
    const eth = parseEthernet(frame);
    if (!eth.ok) return "malformed";
    if (eth.value.src !== me.mac) return "spoofedMac";
    if (eth.value.etherType === ETHERTYPE_ARP) return this.arpFromLocal(from, me, eth.value, frame);
    if (eth.value.etherType !== ETHERTYPE_IPV4) return "unsupportedEthertype";
    const ip = parseIpv4(eth.value.payload);
    if (!ip.ok) return "malformed";
    const toDhcpServer = ip.value.protocol === IP_PROTO_UDP && isDhcpToServer(ip.value.payload);
    if (ip.value.src !== me.ip && !(ip.value.src === 0 && toDhcpServer)) return "spoofedIpv4";
    if (toDhcpServer && me.port) {
      const udp = parseUdp(ip.value.payload, ip.value.src, ip.value.dst);
      if (!udp.ok) return "malformed";
      const dhcp = parseDhcp(udp.value.payload);
      if (!dhcp.ok) return "malformed";
      if (dhcp.value.chaddr !== me.mac) return "spoofedMac";
      const reply = answerDhcp(me.network, me.port, dhcp.value);
      if (!reply) return "dhcpIgnored";
      this.toLocal(reply, from);
      return undefined;
    }
    if (isGroupMac(eth.value.dst)) return "broadcast";
    if (ip.value.dst === METADATA_IP && me.port) return this.metadata.input(me.port, ip.value);
    return this.forward(me.network, eth.value.dst, frame, false);
  }

  private arpFromLocal(
    from: LocalPort,
    me: Identity,
    eth: EthernetFrame,
    frame: Uint8Array,
  ): DropReason | undefined {
    const arp = parseArp(eth.payload);
    if (!arp.ok) return "malformed";
    if (arp.value.senderMac !== me.mac) return "spoofedArp";
    const probe = arp.value.op === ARP_REQUEST && arp.value.senderIp === 0;
    if (arp.value.senderIp !== me.ip && !probe) return "spoofedArp";
    if (arp.value.op !== ARP_REQUEST) {
      if (isGroupMac(eth.dst)) return "broadcast";
      return this.forward(me.network, eth.dst, frame, false);
    }
    if (arp.value.targetIp === me.ip) {
      // An announcement (gratuitous ARP): neighbours refresh their caches. A probe needs no answer.
      if (!probe) this.broadcastAnnouncement(me.network, frame, from, true);
      return undefined;
    }
    const reply = answerArp(me.network, arp.value);
    if (!reply) return "arpUnknownTarget";
    this.toLocal(reply, from);
    return undefined;
  }

  /** Unicast by the map: a local port, or the node the map places the destination on. */
  private forward(
    network: CompiledNetwork,
    dst: number,
    frame: Uint8Array,
    fromOverlay: boolean,
  ): DropReason | undefined {
    let node: string | undefined;
    let local: LocalPort | undefined;
    if (dst === network.gatewayMac) {
      node = this.map.gatewayNode;
      local = this.gatewayPorts.get(network.spec.id);
    } else {
      const port = network.portsByMac.get(dst);
      if (!port) return "unknownUnicast";
      node = port.spec.node;
      local = this.vpsPorts.get(port.spec.vpsId);
      if (fromOverlay && node !== this.nodeId && this.handedOver.has(port.spec.vpsId)) {
        return this.toNode(network, node, frame);
      }
    }
    if (node === this.nodeId) {
      if (!local) return "portDown";
      this.toLocal(frame, local);
      return undefined;
    }
    // Sent on at most once: a frame from the overlay that is not for here is dropped, never bounced.
    if (fromOverlay || node === undefined) return "notHere";
    return this.toNode(network, node, frame);
  }

  private broadcastAnnouncement(
    network: CompiledNetwork,
    frame: Uint8Array,
    from: LocalPort | undefined,
    toOtherNodes: boolean,
    alsoNode?: string,
  ): void {
    for (const port of network.portsByMac.values()) {
      if (port.spec.node !== this.nodeId) continue;
      const local = this.vpsPorts.get(port.spec.vpsId);
      if (local && local !== from) this.toLocal(frame, local);
    }
    const gateway = this.gatewayPorts.get(network.spec.id);
    if (gateway && gateway !== from && this.map.gatewayNode === this.nodeId) this.toLocal(frame, gateway);
    if (!toOtherNodes) return; // from the overlay: the sender's switch already told every node
    const nodes = new Set<string>();
    for (const port of network.portsByMac.values()) nodes.add(port.spec.node);
    if (this.map.gatewayNode !== undefined) nodes.add(this.map.gatewayNode);
    if (alsoNode !== undefined) nodes.add(alsoNode);
    nodes.delete(this.nodeId);
    // A node missing from the table is skipped: the announcement is best effort, like ARP itself.
    for (const node of nodes) this.toNode(network, node, frame);
  }

  /** A full queue is counted on the port that could not take the frame. */
  private toLocal(frame: Uint8Array, to: LocalPort): void {
    if (to.held) {
      if (!to.held.push(frame)) countDrop(to.counters.drops, "holdFull");
    } else if (!to.output(frame)) countDrop(to.counters.drops, "queueFull");
    else to.counters.txFrames++;
  }

  /** Ends a port's hold; returns what was kept, oldest first. */
  private release(port: LocalPort): Uint8Array[] {
    const frames = port.held?.take() ?? [];
    port.held = undefined;
    this.holding.delete(port);
    return frames;
  }

  /**
   * A held port the map now places on another node (its migration committed there) sends what it
   * kept there: that node's map already places the port on itself (it announced the port, or the
   * control plane moved it), so each frame reaches the one VM that runs. A port gone from the map
   * loses them.
   */
  private passOnHeld(): void {
    for (const local of this.holding) {
      if (local.owner.kind !== "vps") continue;
      const vpsId = local.owner.vpsId;
      const port = this.map.ports.get(vpsId);
      if (port?.spec.node === this.nodeId) continue;
      const frames = this.release(local);
      if (!port) {
        if (frames.length > 0) countDrop(local.counters.drops, "holdLost", frames.length);
        continue;
      }
      this.handedOver.add(vpsId);
      for (const frame of frames) {
        const refused = this.toNode(port.network, port.spec.node, frame);
        if (refused) countDrop(local.counters.drops, refused);
        else local.counters.handedOver++;
      }
      this.log.info(
        { vpsId, node: port.spec.node, frames: frames.length },
        "frames kept for a migrating VM handed over",
      );
    }
  }

  private toNode(network: CompiledNetwork, nodeId: string, frame: Uint8Array): DropReason | undefined {
    const node = this.map.nodes.get(nodeId);
    if (!node || !this.overlay) return "notHere";
    this.overlay.send(node.host, node.port, network.spec.vni, frame);
    return undefined;
  }

  /** A VXLAN datagram from the overlay; refusals are counted on the switch. */
  private fromOverlay(datagram: Buffer, host: string, port: number): void {
    const refused = this.overlayFrame(datagram, host, port);
    if (refused) countDrop(this.drops, refused);
  }

  private overlayFrame(datagram: Buffer, host: string, port: number): DropReason | undefined {
    const sender = this.map.nodesByEndpoint.get(`${host}:${port}`);
    if (sender === undefined) return "unregisteredSender";
    const vxlan = parseVxlan(datagram);
    if (!vxlan.ok) return "malformed";
    const network = this.map.networksByVni.get(vxlan.value.vni);
    if (!network) return "unknownVni";
    if (vxlan.value.frame.length > network.maxFrame) return "oversized";
    const eth = parseEthernet(vxlan.value.frame);
    if (!eth.ok) return "malformed";
    // The inner source must be a member of that network: a node cannot inject into another network.
    if (eth.value.src !== network.gatewayMac && !network.portsByMac.has(eth.value.src)) return "spoofedMac";
    if (eth.value.dst === BROADCAST_MAC && eth.value.etherType === ETHERTYPE_ARP) {
      const arp = parseArp(eth.value.payload);
      if (!arp.ok) return "malformed";
      if (!isAnnouncement(arp.value)) return "broadcast";
      learnMove(network, arp.value, sender);
      this.passOnHeld();
      this.broadcastAnnouncement(network, vxlan.value.frame, undefined, false);
      return undefined;
    }
    if (isGroupMac(eth.value.dst)) return "broadcast";
    return this.forward(network, eth.value.dst, vxlan.value.frame, true);
  }
}

/**
 * A port announced from another node than the map says has moved there: a migration's commit,
 * whose destination announces the port before the control plane's next map can arrive. Frames for
 * it follow at once, as a physical switch learns from a gratuitous ARP, instead of going to the
 * old node for the ~200 ms the map takes. Only the port's own MAC and address count, and a node
 * announces only ports its own map (or its commit) places there. The version stays: the control
 * plane's next map, which agrees or corrects it, is not taken for stale.
 */
function learnMove(network: CompiledNetwork, arp: ArpPacket, node: string): void {
  const port = network.portsByMac.get(arp.senderMac);
  if (port && port.ip === arp.senderIp && port.spec.node !== node) port.spec = { ...port.spec, node };
}

function isAnnouncement(arp: ArpPacket): boolean {
  return arp.op === ARP_REQUEST && arp.senderIp === arp.targetIp;
}

/** UDP from the client port to the server port, read without a full parse. */
function isDhcpToServer(udp: Uint8Array): boolean {
  return (
    udp.length >= 8 &&
    ((udp[0] << 8) | udp[1]) === DHCP_CLIENT_PORT &&
    ((udp[2] << 8) | udp[3]) === DHCP_SERVER_PORT
  );
}
