import { SkiffError } from "@skiff/common";
import { stateBytes, stateNumber } from "../../snapshot/fields.js";
import { requireStateVersion, type StateRecord } from "../../snapshot/state.js";
import type { AccessSize } from "../mmio.js";
import { type VirtioBackend, type VirtioDeviceContext, VirtioDeviceId } from "./device.js";
import type { SplitQueue } from "./queue.js";

/** Device-specific feature bits (virtio 1.1 §5.1.3). */
export const VirtioNetFeature = {
  /** The device completes a checksum the driver left partial (NEEDS_CSUM in the TX header). */
  CSUM: 0,
  /** The device may tell the driver a received frame's checksum needs no checking (DATA_VALID). */
  GUEST_CSUM: 1,
  MAC: 5,
  STATUS: 16,
} as const;

/** virtio_net_hdr with VIRTIO_F_VERSION_1 (§5.1.6): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
export const VIRTIO_NET_HDR_SIZE = 12;
/** The largest Ethernet frame either way: 1500 bytes of payload and a 14-byte header, no FCS. */
export const MAX_FRAME = 1514;
/** An Ethernet header: anything shorter is no frame. */
export const MIN_FRAME = 14;
const RX_QUEUE = 0;
const TX_QUEUE = 1;
const QUEUE_SIZE = 256;
/** Config space: mac[6], status (le16). */
const CONFIG_SIZE = 8;
const VIRTIO_NET_S_LINK_UP = 1;
const VIRTIO_NET_HDR_GSO_NONE = 0;
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const VIRTIO_NET_HDR_F_DATA_VALID = 2;

/**
 * Where the device's frames go and come from: the node's switch port, a recorder in tests. Frames
 * are plain Ethernet frames (no virtio header, no FCS).
 */
export interface NetBackend {
  /** A frame the guest transmitted; the bytes are the backend's to keep. */
  send(frame: Uint8Array): void;
  /**
   * Called once when the device is built: `deliver` hands the guest a frame. It returns false
   * when the frame was dropped (no buffer posted, device not running, bad size): counted as rxDropped.
   */
  onFrame(deliver: (frame: Uint8Array) => boolean): void;
}

/** What the device counts; read them from `VirtioNet.counters`. */
export interface NetCounters {
  rxFrames: number;
  txFrames: number;
  /** Frames for the guest that found no usable buffer, a buffer too small, or were not a valid frame. */
  rxDropped: number;
  /** Frames from the guest that were too short or larger than MAX_FRAME. */
  txDropped: number;
  /** Guest TX requests with a bad header or chain shape, or a TX chain the queue could not walk. */
  txMalformed: number;
}

/** virtio-net's saved state (version 1): the MAC it was built with (checked on restore) and its counters. */
export type NetState = {
  mac: Uint8Array;
  rxFrames: number;
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
 * its configuration space, a 12-byte header before each frame. Checksum offload both ways, no GSO
 * and no mergeable RX buffers, so every frame fits one RX chain. Whatever the guest gets wrong is
 * dropped and counted; nothing it does throws.
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
  readonly stateVersion = 1;
  readonly features = [
    VirtioNetFeature.CSUM,
    VirtioNetFeature.GUEST_CSUM,
    VirtioNetFeature.MAC,
    VirtioNetFeature.STATUS,
  ];
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE] as const;
  readonly configSize = CONFIG_SIZE;
  readonly mac: Uint8Array;
  readonly counters: NetCounters = { rxFrames: 0, txFrames: 0, rxDropped: 0, txDropped: 0, txMalformed: 0 };
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
    // num_buffers is 1 in every RX header: without MRG_RXBUF a frame takes one buffer (§5.1.6.4).
    new DataView(this.rxHeader.buffer).setUint16(10, 1, true);
    backend.onFrame((frame) => this.receive(frame));
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

  /** Takes every TX chain the guest posted: checks it, hands the frame to the backend, returns the buffer. */
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
      if (chain.writableLength !== 0 || chain.readableLength < VIRTIO_NET_HDR_SIZE) {
        this.counters.txMalformed++;
      } else {
        const header = chain.read(0, VIRTIO_NET_HDR_SIZE);
        const len = chain.readableLength - VIRTIO_NET_HDR_SIZE;
        const needsCsum = header[0] === VIRTIO_NET_HDR_F_NEEDS_CSUM;
        if (!validTxHeader(header, this.ctx!.hasFeature(VirtioNetFeature.CSUM))) {
          this.counters.txMalformed++;
        } else if (len < MIN_FRAME || len > MAX_FRAME) {
          this.counters.txDropped++;
        } else {
          const frame = chain.read(VIRTIO_NET_HDR_SIZE, len);
          if (needsCsum && !completeChecksum(frame, header)) {
            this.counters.txMalformed++;
          } else {
            this.counters.txFrames++;
            this.backend.send(frame);
          }
        }
      }
      // Dropped or sent, the buffer goes back: the driver frees its TX buffers from the used ring.
      q.pushUsed(chain.head, 0);
    }
  }

  /** Puts a frame from the backend into the guest's next RX buffer; false when it was dropped. */
  receive(frame: Uint8Array): boolean {
    if (frame.length < MIN_FRAME || frame.length > MAX_FRAME) {
      this.counters.rxDropped++;
      return false;
    }
    const q = this.ctx?.queue(RX_QUEUE);
    const chain = q ? q.pop() : null;
    if (!q || chain === null) {
      this.counters.rxDropped++;
      return false;
    }
    if (chain.readableLength !== 0 || chain.writableLength < VIRTIO_NET_HDR_SIZE + frame.length) {
      // The buffer is used up either way; a zero length tells the driver nothing arrived in it.
      q.pushUsed(chain.head, 0);
      this.counters.rxDropped++;
      return false;
    }
    this.rxHeader[0] = this.ctx!.hasFeature(VirtioNetFeature.GUEST_CSUM) ? VIRTIO_NET_HDR_F_DATA_VALID : 0;
    // Through the RAM's DMA path: the pages written are marked dirty for migration.
    chain.write(0, this.rxHeader);
    chain.write(VIRTIO_NET_HDR_SIZE, frame);
    q.pushUsed(chain.head, VIRTIO_NET_HDR_SIZE + frame.length);
    this.counters.rxFrames++;
    return true;
  }

  save(): NetState {
    return { mac: this.mac.slice(), ...this.counters };
  }

  restore(s: StateRecord, version: number): void {
    requireStateVersion(this.kind, version, [1]);
    const mac = stateBytes(s, this.kind, "mac");
    if (formatMac(mac) !== formatMac(this.mac)) {
      throw new SkiffError(
        "SNAPSHOT_STATE_INVALID",
        `${this.kind}: snapshot has MAC ${formatMac(mac)}, this device ${formatMac(this.mac)}`,
      );
    }
    for (const key of Object.keys(this.counters) as (keyof NetCounters)[])
      this.counters[key] = stateNumber(s, this.kind, key);
  }
}

/** No GSO, and no flag but NEEDS_CSUM when CSUM was negotiated (§5.1.6.2): anything else is a bad header. */
function validTxHeader(h: Uint8Array, csum: boolean): boolean {
  return (h[0] === 0 || (csum && h[0] === VIRTIO_NET_HDR_F_NEEDS_CSUM)) && h[1] === VIRTIO_NET_HDR_GSO_NONE;
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
  let sum = 0;
  let i = start;
  for (; i + 1 < frame.length; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!;
  if (i < frame.length) sum += frame[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  // A zero result is sent as 0xffff (the same in ones' complement): zero means "no checksum" in UDP.
  const csum = ~sum & 0xffff || 0xffff;
  frame[at] = csum >>> 8;
  frame[at + 1] = csum & 0xff;
  return true;
}
