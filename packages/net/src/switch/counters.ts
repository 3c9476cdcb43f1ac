/** Why the switch dropped a frame. Each drop is counted, per port when a port sent it. */
export type DropReason =
  /** Unparsable Ethernet/ARP/IPv4/UDP/DHCP/VXLAN, or an oversized frame. */
  | "malformed"
  /** The sending port is not in the map, or the map says it runs on another node. */
  | "notInMap"
  | "spoofedMac"
  | "spoofedArp"
  | "spoofedIpv4"
  /** Bigger than the network's MTU allows (a guest that set a larger MTU than DHCP gave it). */
  | "oversized"
  /** Neither IPv4 nor ARP. */
  | "unsupportedEthertype"
  /** A destination MAC the map does not place in the sender's network: never flooded. */
  | "unknownUnicast"
  /** Broadcast or multicast other than ARP and DHCP. */
  | "broadcast"
  /** An ARP request for an address the map does not know in that network. */
  | "arpUnknownTarget"
  /** A DHCP message the local server does not answer (release, decline, another server's). */
  | "dhcpIgnored"
  /** An overlay datagram from an address that is not a registered node. */
  | "unregisteredSender"
  /** An overlay datagram for a VNI that is no network in the map. */
  | "unknownVni"
  /** An overlay frame for a port the map places on another node (the sender's map was older). */
  | "notHere"
  /** The map places the destination here but its VMM is not attached. */
  | "portDown"
  /** To the metadata address but not TCP to port 80 (or a fragment). */
  | "metadataRefused"
  /** The destination's link could not take the frame now. */
  | "queueFull"
  /** Its VM is paused for a migration's last copy and its hold queue is full. */
  | "holdFull"
  /** Kept for a paused VM whose port was unplugged or left the map before the VM ran anywhere. */
  | "holdLost";

export type DropCounts = Partial<Record<DropReason, number>>;

export interface PortCounters {
  /** Frames the VM sent that the switch accepted; each frame it sends is counted here or in `drops`. */
  rxFrames: number;
  /** Frames the switch delivered to the VM. */
  txFrames: number;
  /** Frames kept while the VM was paused for a migration, then passed to the node it moved to. */
  handedOver: number;
  drops: DropCounts;
}

export function newPortCounters(): PortCounters {
  return { rxFrames: 0, txFrames: 0, handedOver: 0, drops: {} };
}

export function countDrop(drops: DropCounts, reason: DropReason, frames = 1): void {
  drops[reason] = (drops[reason] ?? 0) + frames;
}
