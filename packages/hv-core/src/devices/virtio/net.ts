import { SkiffError } from "@skiff/common";
import { stateBytes, stateNumber } from "../../snapshot/fields.js";
import { requireStateVersion, type StateRecord } from "../../snapshot/state.js";
import type { AccessSize } from "../mmio.js";
import { type VirtioBackend, type VirtioDeviceContext, VirtioDeviceId } from "./device.js";
import { sentChecksum } from "./inet-checksum.js";
import { coalesceTcp, type RxPacket, single } from "./net-coalesce.js";
import { segmentTcp } from "./net-segment.js";
import type { DescriptorChain } from "./queue.js";

/** Device-specific feature bits (virtio 1.1 §5.1.3). */
export const VirtioNetFeature = {
  /** The device completes a checksum the driver left partial (NEEDS_CSUM in the TX header). */
  CSUM: 0,
  /** The device may tell the driver a received frame's checksum needs no checking (DATA_VALID). */
  GUEST_CSUM: 1,
  MAC: 5,
  /** The driver takes merged TCP segments (GSO_TCPV4 in the RX header). Requires GUEST_CSUM. */
  GUEST_TSO4: 7,
  /** The device cuts large TCP packets from the driver into segments (net-segment.ts). Requires CSUM. */
  HOST_TSO4: 11,
  /** A received frame may span several RX buffers (num_buffers in the header). */
  MRG_RXBUF: 15,
  STATUS: 16,
} as const;

/** virtio_net_hdr with VIRTIO_F_VERSION_1 (§5.1.6): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const VIRTIO_NET_HDR_SIZE = 12;
/**
 * The largest Ethernet frame either way: a jumbo frame's 9000 bytes of payload and a 14-byte
 * header, no FCS. The network's own MTU (given by DHCP, enforced by the node switch) may be lower.
 */
export const MAX_FRAME = 9014;
/** An Ethernet header: anything shorter is no frame. */
export const MIN_FRAME = 14;
/** The largest GSO frame either way: an Ethernet header and a whole IPv4 packet. */
export const MAX_GSO_FRAME = 14 + 0xffff;
const RX_QUEUE = 0;
const TX_QUEUE = 1;
const QUEUE_SIZE = 256;
/** Config space: mac[6], status (le16). */
const CONFIG_SIZE = 8;
const VIRTIO_NET_S_LINK_UP = 1;
const VIRTIO_NET_HDR_GSO_NONE = 0;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_F_DATA_VALID = 2;
const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** Merged frames go only to a driver that takes them, checksum-valid, over several buffers. */
const MERGE_FEATURES = [VirtioNetFeature.GUEST_TSO4, VirtioNetFeature.GUEST_CSUM, VirtioNetFeature.MRG_RXBUF];

/**
 * Where the device's frames go and come from: the node's switch port, a recorder in tests. Frames
 * are plain Ethernet frames (no virtio header, no FCS).
 */
export interface NetBackend {
  /** A frame the guest transmitted; the bytes are the backend's to keep. */
  send(frame: Uint8Array): void;
  /**
   * Called once when the device is built: `deliver` hands the guest the frames that arrived
   * together (neighbouring TCP segments of one flow may reach it merged). It returns how many
   * reached the guest; the others (no buffer posted, device not running, bad size) are counted
   * as rxDropped.
   */
  onFrame(deliver: (frames: readonly Uint8Array[]) => number): void;
}

/** What the device counts; read them from `VirtioNet.counters`. */
export interface NetCounters {
  rxFrames: number;
  /** Of rxFrames, those that reached the guest merged into the frame before them (GUEST_TSO4). */
  rxMerged: number;
  txFrames: number;
  /** Frames for the guest that found no usable buffer, a buffer too small, or were not a valid frame. */
  rxDropped: number;
  /** Frames from the guest shorter than a header or past MAX_FRAME (a TSO packet: past MAX_GSO_FRAME, or its segments). */
  txDropped: number;
  /** Guest TX requests with a bad header or chain shape, or a TX chain the queue could not walk. */
  txMalformed: number;
}

/**
 * virtio-net's saved state: the MAC it was built with (checked on restore) and its counters.
 * Version 2 added rxMerged (0 when restoring version 1). What the driver negotiated is the
 * transport's state, and nothing is in flight between two calls.
 */
export type NetState = {
  mac: Uint8Array;
  rxFrames: number;
  rxMerged: number;
  txFrames: number;
  rxDropped: number;
  txDropped: number;
  txMalformed: number;
};

/** Parses "52:54:00:12:34:56"; a malformed or multicast address is a configuration error. */
export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new SkiffError(
      "MACHINE_CONFIG_INVALID",
      `MAC address ${JSON.stringify(mac)} is not six hex octets`,
    );
  const bytes = Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
  if ((bytes[0]! & 1) !== 0)
    throw new SkiffError("MACHINE_CONFIG_INVALID", `MAC address ${mac} is a multicast address`);
  return bytes;
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A backend that drops what the guest sends and never delivers (a NIC with no cable's far end). */
export const UNPLUGGED: NetBackend = { send() {}, onFrame() {} };

/**
 * virtio network device (virtio 1.1 §5.1): receiveq 0 and transmitq 1, the MAC and link status in
 * its configuration space, a 12-byte header before each frame. Checksum offload both ways; on
 * transmit, large TCP packets are cut into segments (HOST_TSO4, net-segment.ts); on receive,
 * neighbouring TCP segments of one flow are merged into one GSO frame (net-coalesce.ts) spread
 * over as many RX buffers as it takes (mergeable buffers, §5.1.6.3.2), when the driver takes both.
 * Whatever the guest gets wrong is dropped and counted; nothing it does throws.
 *
 * Why checksums are offloaded: the guest's CPU is interpreted, so summing every byte of every
 * segment in the guest costs far more than doing it here. Frames reach the guest only from the
 * node's switch, whose senders (the gateway namespace's kernel, other guests through this device)
 * computed their checksums, so RX frames are marked DATA_VALID and the guest's TCP also merges them
 * (GRO) without checking; a guest that sends a bad checksum can only mislead its peer about data
 * it could have sent anyway.
 */
export class VirtioNet implements VirtioBackend {
  readonly deviceId = VirtioDeviceId.NET;
  readonly kind = "virtio-net";
  readonly stateVersion = 2;
  readonly features = [
    VirtioNetFeature.CSUM,
    VirtioNetFeature.GUEST_CSUM,
    VirtioNetFeature.MAC,
    VirtioNetFeature.GUEST_TSO4,
    VirtioNetFeature.HOST_TSO4,
    VirtioNetFeature.MRG_RXBUF,
    VirtioNetFeature.STATUS,
  ];
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE] as const;
  readonly configSize = CONFIG_SIZE;
  readonly mac: Uint8Array;
  readonly counters: NetCounters = {
    rxFrames: 0,
    rxMerged: 0,
    txFrames: 0,
    rxDropped: 0,
    txDropped: 0,
    txMalformed: 0,
  };
  private readonly config = new Uint8Array(CONFIG_SIZE);
  private readonly rxHeader = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  private ctx: VirtioDeviceContext | undefined;

  constructor(
    mac: string,
    private readonly backend: NetBackend = UNPLUGGED,
  ) {
    this.mac = parseMac(mac);
    this.config.set(this.mac);
    new DataView(this.config.buffer).setUint16(6, VIRTIO_NET_S_LINK_UP, true);
    backend.onFrame((frames) => this.receive(frames));
  }

  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  readConfig(offset: number, size: AccessSize): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.config[offset + i]!;
    return v >>> 0;
  }

  writeConfig(): void {
    // The MAC is writable only with VIRTIO_NET_F_CTRL_MAC_ADDR's legacy path (not offered).
  }

  notify(index: number): void {
    // New RX buffers wait for frames: nothing is queued on the device side.
    if (index === TX_QUEUE) this.transmit();
  }

  reset(): void {
    // Nothing in flight: TX completes within notify, RX within receive.
  }

  /** Takes every TX chain the guest posted: hands its frames to the backend, returns the buffer. */
  private transmit(): void {
    const q = this.ctx?.queue(TX_QUEUE);
    if (!q) return;
    for (;;) {
      const chain = q.pop();
      if (chain === null) {
        // A chain the queue could not walk (loop, outside RAM...): the transport now wants a reset.
        if (q.faulted) this.counters.txMalformed++;
        return;
      }
      this.transmitChain(chain);
      // Dropped or sent, the buffer goes back: the driver frees its TX buffers from the used ring.
      q.pushUsed(chain.head, 0);
    }
  }

  /** One TX request, checked: its frame, or with TSO the segments cut from it, go to the backend. */
  private transmitChain(chain: DescriptorChain): void {
    const ctx = this.ctx!;
    if (chain.writableLength !== 0 || chain.readableLength < VIRTIO_NET_HDR_SIZE) {
      this.counters.txMalformed++;
      return;
    }
    const header = chain.read(0, VIRTIO_NET_HDR_SIZE);
    const len = chain.readableLength - VIRTIO_NET_HDR_SIZE;
    if (
      !validTxHeader(
        header,
        ctx.hasFeature(VirtioNetFeature.CSUM),
        ctx.hasFeature(VirtioNetFeature.HOST_TSO4),
      )
    ) {
      this.counters.txMalformed++;
      return;
    }
    const tso = header[1] === VIRTIO_NET_HDR_GSO_TCPV4;
    if (len < MIN_FRAME || len > (tso ? MAX_GSO_FRAME : MAX_FRAME)) {
      this.counters.txDropped++;
      return;
    }
    const frame = chain.read(VIRTIO_NET_HDR_SIZE, len);
    if (tso) {
      const segments = segmentTcp(frame, header[4]! | (header[5]! << 8));
      if (segments === null) this.counters.txMalformed++;
      else if (segments.some((f) => f.length > MAX_FRAME)) this.counters.txDropped++;
      else this.sendAll(segments);
    } else if (header[0] === VIRTIO_NET_HDR_F_NEEDS_CSUM && !completeChecksum(frame, header)) {
      this.counters.txMalformed++;
    } else {
      this.sendAll([frame]);
    }
  }

  private sendAll(frames: readonly Uint8Array[]): void {
    for (const f of frames) {
      this.counters.txFrames++;
      this.backend.send(f);
    }
  }

  /**
   * Puts frames from the backend into the guest's RX buffers, neighbouring TCP segments merged
   * when the driver takes GSO frames; returns how many frames reached the guest.
   */
  receive(frames: readonly Uint8Array[]): number {
    const merging = MERGE_FEATURES.every((bit) => this.ctx?.hasFeature(bit) === true);
    const valid = frames.filter((f) => f.length >= MIN_FRAME && f.length <= MAX_FRAME);
    this.counters.rxDropped += frames.length - valid.length;
    const packets = merging ? coalesceTcp(valid, MAX_GSO_FRAME) : valid.map(single);
    let delivered = 0;
    for (const p of packets) {
      if (this.receivePacket(p)) {
        delivered += p.segments;
        this.counters.rxFrames += p.segments;
        this.counters.rxMerged += p.segments - 1;
      } else {
        this.counters.rxDropped += p.segments;
      }
    }
    return delivered;
  }

  /**
   * One packet into the next RX buffer, or with MRG_RXBUF into as many as it takes (§5.1.6.4);
   * false when it was dropped. With too few buffers posted, none is used.
   */
  private receivePacket(p: RxPacket): boolean {
    const q = this.ctx?.queue(RX_QUEUE);
    if (!q) return false;
    const mergeable = this.ctx!.hasFeature(VirtioNetFeature.MRG_RXBUF);
    const need = VIRTIO_NET_HDR_SIZE + p.frame.length;
    const from = q.lastAvailIdx;
    const chains: DescriptorChain[] = [];
    let room = 0;
    while (room < need) {
      const chain = q.pop();
      if (chain === null) {
        // The buffers taken so far go back untouched, for the next frames.
        if (!q.faulted) q.lastAvailIdx = from;
        return false;
      }
      chains.push(chain);
      room += chain.writableLength;
      const badShape = chain.readableLength !== 0 || chain.writableLength < VIRTIO_NET_HDR_SIZE;
      if (badShape || (!mergeable && room < need)) {
        // The buffers are used up either way; a zero length tells the driver nothing arrived.
        for (const c of chains) q.pushUsed(c.head, 0);
        return false;
      }
    }
    const h = this.rxHeader;
    const merged = p.segments > 1;
    h[0] = this.ctx!.hasFeature(VirtioNetFeature.GUEST_CSUM) ? VIRTIO_NET_HDR_F_DATA_VALID : 0;
    h[1] = merged ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_NONE;
    const v = new DataView(h.buffer);
    v.setUint16(2, merged ? p.headerLength : 0, true);
    v.setUint16(4, merged ? p.mss : 0, true);
    v.setUint16(10, chains.length, true);
    // Through the RAM's DMA path: the pages written are marked dirty for migration.
    chains[0]!.write(0, h);
    const used: number[] = [];
    let at = 0;
    let offset = VIRTIO_NET_HDR_SIZE;
    for (const c of chains) {
      const n = c.write(offset, p.frame.subarray(at));
      used.push(offset + n);
      at += n;
      offset = 0;
    }
    for (let i = 0; i < chains.length; i++) q.pushUsed(chains[i]!.head, used[i]!);
    return true;
  }

  save(): NetState {
    return { mac: this.mac.slice(), ...this.counters };
  }

  restore(s: StateRecord, version: number): void {
    requireStateVersion(this.kind, version, [1, 2]);
    const mac = stateBytes(s, this.kind, "mac");
    if (formatMac(mac) !== formatMac(this.mac)) {
      throw new SkiffError(
        "SNAPSHOT_STATE_INVALID",
        `${this.kind}: snapshot has MAC ${formatMac(mac)}, this device ${formatMac(this.mac)}`,
      );
    }
    for (const key of Object.keys(this.counters) as (keyof NetCounters)[])
      this.counters[key] = key === "rxMerged" && version < 2 ? 0 : stateNumber(s, this.kind, key);
  }
}

/**
 * No flag but NEEDS_CSUM when CSUM was negotiated; no GSO but TCPV4 with HOST_TSO4, where Linux
 * always leaves the checksum to the device (§5.1.6.2): anything else is a bad header.
 */
function validTxHeader(h: Uint8Array, csum: boolean, tso: boolean): boolean {
  const flags = h[0] === 0 || (csum && h[0] === VIRTIO_NET_HDR_F_NEEDS_CSUM);
  const gso =
    h[1] === VIRTIO_NET_HDR_GSO_NONE ||
    (tso &&
      h[1] === VIRTIO_NET_HDR_GSO_TCPV4 &&
      h[0] === VIRTIO_NET_HDR_F_NEEDS_CSUM &&
      (h[4]! | h[5]!) !== 0);
  return flags && gso;
}

/**
 * NEEDS_CSUM (§5.1.6.2): the Internet checksum (RFC 1071) of the frame from csum_start to its end,
 * stored at csum_start + csum_offset, where the driver left the pseudo-header's partial sum. False
 * when those offsets do not fit the frame.
 */
export function completeChecksum(frame: Uint8Array, header: Uint8Array): boolean {
  const start = header[6]! | (header[7]! << 8);
  const at = start + (header[8]! | (header[9]! << 8));
  if (start >= frame.length || at + 2 > frame.length) return false;
  const csum = sentChecksum(frame, start, frame.length);
  frame[at] = csum >>> 8;
  frame[at + 1] = csum & 0xff;
  return true;
}
