import type { Ram } from "../../memory/ram.js";
import type { Snapshottable } from "../../snapshot/state.js";
import type { AccessSize } from "../mmio.js";
import type { SplitQueue } from "./queue.js";

/** Device IDs (virtio 1.1 §5 "Device Types"). */
export const VirtioDeviceId = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  ENTROPY: 4,
} as const;

/** Device-independent feature bits (virtio 1.1 §6 "Reserved Feature Bits"). */
export const VirtioFeature = {
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
} as const;

/** What the transport gives a device backend to work with. */
export interface VirtioDeviceContext {
  readonly ram: Ram;
  /**
   * Queue `index` when the device may use it: the driver set DRIVER_OK, made the queue ready, and
   * the device doesn't need a reset. Backends that produce data on their own (net RX, console
   * input) call this when data arrives and fill whatever buffers the driver has posted.
   */
  queue(index: number): SplitQueue | undefined;
  /** Whether the driver accepted feature `bit`. */
  hasFeature(bit: number): boolean;
  /** The device's configuration space changed: bump ConfigGeneration and interrupt the driver. */
  configChanged(): void;
}

/**
 * A virtio device type behind the virtio-mmio transport (blk, rng, net). The transport owns
 * feature negotiation, queues, status and interrupts; the backend owns the device-specific
 * configuration space and the meaning of the buffers in its queues, and saves its own state with
 * its own version (nested in the transport's snapshot section).
 */
export interface VirtioBackend extends Snapshottable {
  readonly deviceId: number;
  /** Short name for logs and errors, e.g. "virtio-blk". */
  readonly kind: string;
  /** Device-specific feature bits offered (the transport adds VERSION_1 and INDIRECT_DESC). */
  readonly features: readonly number[];
  /** Maximum size of each queue; its length is the number of queues. */
  readonly queueSizes: readonly number[];
  /** Bytes of device-specific configuration space at 0x100. */
  readonly configSize: number;
  readConfig(offset: number, size: AccessSize): number;
  writeConfig(offset: number, size: AccessSize, value: number): void;
  /** Called once by the transport before any other call. */
  attach(ctx: VirtioDeviceContext): void;
  /** The driver notified queue `index` (only delivered while that queue is usable). */
  notify(index: number): void;
  /** Device reset (Status written 0): forget anything in flight. */
  reset(): void;
}
