import type { CompiledPort } from "../map.js";
import type { DropReason } from "../switch/counters.js";
import { ipv4ToNumber, ipv4ToString, macToString } from "../wire/address.js";
import { buildEthernet, ETHERTYPE_IPV4 } from "../wire/ethernet.js";
import { buildIpv4, IP_PROTO_TCP, type Ipv4Packet, ipv4Header } from "../wire/ipv4.js";
import { buildTcp, parseTcp } from "../wire/tcp.js";
import { answerMetadata, type GuestMetadata, type InstanceView } from "./documents.js";
import { encodeResponse, parseRequestHead } from "./http.js";
import { type TcpPeer, TcpResponder } from "./tcp-responder.js";

/** The link-local address clouds answer metadata on (EC2, DigitalOcean, OpenStack). */
export const METADATA_IPV4 = "169.254.169.254";
export const METADATA_IP = ipv4ToNumber(METADATA_IPV4);
const HTTP_PORT = 80;

export interface MetadataServiceOptions {
  /** The port the map gives a VPS now (its address, MAC and network); undefined when it has none here. */
  port(vpsId: string): CompiledPort | undefined;
  /** Hands a frame to a VPS's NIC. */
  deliver(vpsId: string, frame: Uint8Array): void;
}

/**
 * The metadata service of one node, answered inside its switch: HTTP on 169.254.169.254:80 over
 * the switch's own TCP responder. The switch hands it only packets from a port's own MAC and
 * address (anti-spoofing runs first), and a VPS is answered about itself alone: the connection's
 * owner is the port the frame came in on, never anything the guest wrote in the packet.
 */
export class MetadataService {
  private readonly guests = new Map<string, GuestMetadata>();
  private readonly responder: TcpResponder;

  constructor(private readonly options: MetadataServiceOptions) {
    this.responder = new TcpResponder({
      respond: (peer, request) => this.respond(peer, request),
      send: (peer, segment) => {
        const port = options.port(peer.owner);
        if (!port) return;
        const tcp = buildTcp(segment, peer.localIp, peer.remoteIp);
        const ip = buildIpv4(ipv4Header(peer.localIp, peer.remoteIp, IP_PROTO_TCP), tcp);
        options.deliver(
          peer.owner,
          buildEthernet({ dst: port.mac, src: port.network.gatewayMac, etherType: ETHERTYPE_IPV4 }, ip),
        );
      },
    });
  }

  /** What a VPS is told beyond the map (its keys, its hostname); undefined forgets it. */
  set(vpsId: string, metadata: GuestMetadata | undefined): void {
    if (metadata)
      this.guests.set(vpsId, { hostname: metadata.hostname, publicKeys: [...metadata.publicKeys] });
    else {
      this.guests.delete(vpsId);
      this.responder.dropOwner(vpsId);
    }
  }

  get connections(): number {
    return this.responder.size;
  }

  /** An IPv4 packet a VPS sent to METADATA_IP. Returns why it was dropped, or undefined. */
  input(port: CompiledPort, packet: Ipv4Packet): DropReason | undefined {
    if (packet.protocol !== IP_PROTO_TCP || packet.moreFragments || packet.fragmentOffset !== 0)
      return "metadataRefused";
    const tcp = parseTcp(packet.payload, packet.src, packet.dst);
    if (!tcp.ok) return "malformed";
    if (tcp.value.dstPort !== HTTP_PORT) return "metadataRefused";
    const peer: TcpPeer = {
      owner: port.spec.vpsId,
      remoteIp: packet.src,
      remotePort: tcp.value.srcPort,
      localIp: packet.dst,
      localPort: HTTP_PORT,
    };
    this.responder.input(peer, tcp.value);
    return undefined;
  }

  close(): void {
    this.responder.close();
  }

  private respond(peer: TcpPeer, request: Uint8Array): Uint8Array | undefined {
    const head = parseRequestHead(request);
    if (head.kind === "incomplete") return undefined;
    const view = this.view(peer.owner);
    if (head.kind === "bad" || !view)
      return encodeResponse({ status: 400, contentType: "text/plain", body: "bad request\n" });
    const answer = answerMetadata(head.head.method, head.head.path, view);
    return encodeResponse(answer, head.head.method === "HEAD");
  }

  private view(vpsId: string): InstanceView | undefined {
    const port = this.options.port(vpsId);
    if (!port) return undefined;
    const guest = this.guests.get(vpsId);
    return {
      id: vpsId,
      hostname: guest?.hostname || port.spec.hostname,
      publicKeys: guest?.publicKeys ?? [],
      ipv4: port.spec.ipv4,
      mac: macToString(port.mac),
      netmask: ipv4ToString(port.network.cidr.mask),
      gateway: port.network.spec.gateway.ipv4,
    };
  }
}
