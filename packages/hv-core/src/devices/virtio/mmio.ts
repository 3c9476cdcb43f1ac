import { SkiffError } from "@skiff/common";
import type { Ram } from "../../memory/ram.js";
import { stateList, stateNumber, stateRecord, stateWords } from "../../snapshot/fields.js";
import { requireStateVersion, type Snapshottable, type StateRecord } from "../../snapshot/state.js";
import type { AccessSize, MmioDevice } from "../mmio.js";
import { type VirtioBackend, type VirtioDeviceContext, VirtioFeature } from "./device.js";
import { type QueueState, SplitQueue } from "./queue.js";

/** virtio-mmio register offsets (virtio 1.1 §4.2.2, "MMIO Device Register Layout"). */
export const VirtioMmioReg = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** Device status bits (virtio 1.1 §2.1). */
export const VirtioStatus = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

export const VIRTIO_MMIO_MAGIC = 0x74726976; // "virt"
export const VIRTIO_MMIO_VENDOR = 0x46464b53; // "SKFF"
export const VIRTIO_MMIO_SIZE = 0x1000;
const INT_USED_BUFFER = 1;
const INT_CONFIG_CHANGE = 2;

/**
 * The transport's saved state. Version 2 carries the backend's state with the backend's own
 * version (`deviceVersion`); version 1 (format-1 snapshots) had no such field: its backend state
 * is version 1.
 */
export type VirtioMmioState = {
  deviceId: number;
  status: number;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  driverFeatures: Uint32Array;
  queueSel: number;
  interruptStatus: number;
  configGeneration: number;
  queues: QueueState[];
  device: StateRecord;
  deviceVersion: number;
};

/**
 * The virtio-mmio transport (version 2, no legacy interface) in front of one device backend:
 * feature negotiation, split queues, device status and the interrupt line. Guest mistakes (bad
 * queue layout, malformed descriptor chains) set DEVICE_NEEDS_RESET and raise a configuration
 * change interrupt (virtio 1.1 §2.1.2); the device stays quiet until the driver resets it.
 */
export class VirtioMmio implements MmioDevice, Snapshottable<VirtioMmioState> {
  readonly name: string;
  readonly stateVersion = 2;
  private readonly queues: SplitQueue[];
  private readonly deviceFeatures = new Uint32Array(2);
  private readonly driverFeatures = new Uint32Array(2);
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private queueSel = 0;
  private status = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private irqLevel = false;
  /** Why the device needs a reset (for diagnostics), or null. */
  lastFault: string | null = null;

  constructor(
    private readonly ram: Ram,
    private readonly backend: VirtioBackend,
    private readonly irq: (level: boolean) => void,
  ) {
    this.name = backend.kind;
    const bits = [...backend.features, VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC];
    for (const bit of bits) if (bit < 64) this.deviceFeatures[bit >>> 5] |= 1 << (bit & 31);
    this.queues = backend.queueSizes.map(
      (max, i) =>
        new SplitQueue(
          ram,
          i,
          max,
          () => this.raise(INT_USED_BUFFER),
          (q, reason) => this.fault(`queue ${q}: ${reason}`),
        ),
    );
    const ctx: VirtioDeviceContext = {
      ram,
      queue: (index) => (this.queueUsable(index) ? this.queues[index] : undefined),
      hasFeature: (bit) => this.negotiated(bit),
      configChanged: () => {
        this.configGeneration = (this.configGeneration + 1) >>> 0;
        this.raise(INT_CONFIG_CHANGE);
      },
    };
    backend.attach(ctx);
  }

  private negotiated(bit: number): boolean {
    if (bit < 0 || bit >= 64) return false;
    const w = bit >>> 5;
    return (this.driverFeatures[w]! & this.deviceFeatures[w]! & (1 << (bit & 31))) !== 0;
  }

  private get live(): boolean {
    return (
      (this.status & (VirtioStatus.DRIVER_OK | VirtioStatus.DEVICE_NEEDS_RESET)) === VirtioStatus.DRIVER_OK
    );
  }

  private queueUsable(index: number): boolean {
    const q = this.queues[index];
    return q !== undefined && this.live && q.ready && !q.faulted;
  }

  private get selected(): SplitQueue | undefined {
    return this.queues[this.queueSel];
  }

  read(offset: number, size: AccessSize): number {
    if (offset >= VirtioMmioReg.CONFIG) {
      const at = offset - VirtioMmioReg.CONFIG;
      return at + size <= this.backend.configSize ? this.backend.readConfig(at, size) : 0;
    }
    if (size !== 4 || (offset & 3) !== 0) return 0; // control registers are 32-bit only (§4.2.2.2)
    const q = this.selected;
    switch (offset) {
      case VirtioMmioReg.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case VirtioMmioReg.VERSION:
        return 2;
      case VirtioMmioReg.DEVICE_ID:
        return this.backend.deviceId;
      case VirtioMmioReg.VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
      case VirtioMmioReg.DEVICE_FEATURES:
        return this.deviceFeaturesSel < 2 ? this.deviceFeatures[this.deviceFeaturesSel]! : 0;
      case VirtioMmioReg.QUEUE_NUM_MAX:
        return q ? q.maxSize : 0;
      case VirtioMmioReg.QUEUE_NUM:
        return q ? q.size : 0;
      case VirtioMmioReg.QUEUE_READY:
        return q?.ready ? 1 : 0;
      case VirtioMmioReg.INTERRUPT_STATUS:
        return this.interruptStatus;
      case VirtioMmioReg.STATUS:
        return this.status;
      case VirtioMmioReg.QUEUE_DESC_LOW:
        return q ? q.descLo : 0;
      case VirtioMmioReg.QUEUE_DESC_HIGH:
        return q ? q.descHi : 0;
      case VirtioMmioReg.QUEUE_DRIVER_LOW:
        return q ? q.driverLo : 0;
      case VirtioMmioReg.QUEUE_DRIVER_HIGH:
        return q ? q.driverHi : 0;
      case VirtioMmioReg.QUEUE_DEVICE_LOW:
        return q ? q.deviceLo : 0;
      case VirtioMmioReg.QUEUE_DEVICE_HIGH:
        return q ? q.deviceHi : 0;
      case VirtioMmioReg.SHM_LEN_LOW:
      case VirtioMmioReg.SHM_LEN_HIGH:
      case VirtioMmioReg.SHM_BASE_LOW:
      case VirtioMmioReg.SHM_BASE_HIGH:
        return 0xffffffff; // no shared memory regions: length and base read as -1
      case VirtioMmioReg.CONFIG_GENERATION:
        return this.configGeneration;
      default:
        return 0;
    }
  }

  write(offset: number, size: AccessSize, value: number): void {
    if (offset >= VirtioMmioReg.CONFIG) {
      const at = offset - VirtioMmioReg.CONFIG;
      if (at + size <= this.backend.configSize) this.backend.writeConfig(at, size, value);
      return;
    }
    if (size !== 4 || (offset & 3) !== 0) return;
    const v = value >>> 0;
    const q = this.selected;
    // A ready queue's size and addresses are frozen (§4.2.2.2): they were checked when enabled.
    const programmable = q !== undefined && !q.ready;
    switch (offset) {
      case VirtioMmioReg.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = v;
        return;
      case VirtioMmioReg.DRIVER_FEATURES:
        // Features are fixed once FEATURES_OK is set.
        if (this.driverFeaturesSel < 2 && (this.status & VirtioStatus.FEATURES_OK) === 0)
          this.driverFeatures[this.driverFeaturesSel] = v;
        return;
      case VirtioMmioReg.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = v;
        return;
      case VirtioMmioReg.QUEUE_SEL:
        this.queueSel = v;
        return;
      case VirtioMmioReg.QUEUE_NUM:
        if (programmable) q.size = v;
        return;
      case VirtioMmioReg.QUEUE_READY:
        if (q) this.setQueueReady(q, (v & 1) === 1);
        return;
      case VirtioMmioReg.QUEUE_NOTIFY:
        // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index.
        if (this.queueUsable(v)) this.backend.notify(v);
        return;
      case VirtioMmioReg.INTERRUPT_ACK:
        this.interruptStatus &= ~v;
        this.updateIrq();
        return;
      case VirtioMmioReg.STATUS:
        this.writeStatus(v & 0xff);
        return;
      case VirtioMmioReg.QUEUE_DESC_LOW:
        if (programmable) q.descLo = v;
        return;
      case VirtioMmioReg.QUEUE_DESC_HIGH:
        if (programmable) q.descHi = v;
        return;
      case VirtioMmioReg.QUEUE_DRIVER_LOW:
        if (programmable) q.driverLo = v;
        return;
      case VirtioMmioReg.QUEUE_DRIVER_HIGH:
        if (programmable) q.driverHi = v;
        return;
      case VirtioMmioReg.QUEUE_DEVICE_LOW:
        if (programmable) q.deviceLo = v;
        return;
      case VirtioMmioReg.QUEUE_DEVICE_HIGH:
        if (programmable) q.deviceHi = v;
        return;
      default:
      // Read-only and unknown registers ignore writes.
    }
  }

  private setQueueReady(q: SplitQueue, ready: boolean): void {
    if (!ready) {
      q.ready = false;
      return;
    }
    if (q.ready) return;
    q.indirect = this.negotiated(VirtioFeature.INDIRECT_DESC);
    if (q.enable() && this.live && q.hasAvailable()) this.backend.notify(q.index);
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    const was = this.status;
    let next = (v & ~VirtioStatus.DEVICE_NEEDS_RESET) | (was & VirtioStatus.DEVICE_NEEDS_RESET);
    if ((next & VirtioStatus.FEATURES_OK) !== 0 && (was & VirtioStatus.FEATURES_OK) === 0) {
      // Accept only a subset of what we offered, including VERSION_1 (no legacy interface).
      const subset =
        (this.driverFeatures[0]! & ~this.deviceFeatures[0]!) === 0 &&
        (this.driverFeatures[1]! & ~this.deviceFeatures[1]!) === 0;
      if (!subset || !this.negotiated(VirtioFeature.VERSION_1)) next &= ~VirtioStatus.FEATURES_OK;
    }
    this.status = next;
    if ((next & VirtioStatus.DRIVER_OK) !== 0 && (was & VirtioStatus.DRIVER_OK) === 0) {
      // Buffers posted before DRIVER_OK wait until now (§3.1.1: no use before DRIVER_OK).
      for (const q of this.queues)
        if (this.queueUsable(q.index) && q.hasAvailable()) this.backend.notify(q.index);
    }
  }

  /** Device reset (Status = 0): every register back to its initial value. */
  reset(): void {
    this.status = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.driverFeatures.fill(0);
    this.queueSel = 0;
    this.interruptStatus = 0;
    this.lastFault = null;
    for (const q of this.queues) q.reset();
    this.backend.reset();
    this.updateIrq();
  }

  private fault(reason: string): void {
    this.lastFault = reason;
    this.status |= VirtioStatus.DEVICE_NEEDS_RESET;
    // A driver past DRIVER_OK is told by interrupt; before that it finds the bit in Status (§2.1.2).
    if ((this.status & VirtioStatus.DRIVER_OK) !== 0) this.raise(INT_CONFIG_CHANGE);
  }

  private raise(bits: number): void {
    this.interruptStatus |= bits;
    this.updateIrq();
  }

  private updateIrq(): void {
    const level = this.interruptStatus !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  /** The device behind this transport. */
  get device(): VirtioBackend {
    return this.backend;
  }

  save(): VirtioMmioState {
    return {
      deviceId: this.backend.deviceId,
      status: this.status,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: this.driverFeatures.slice(),
      queueSel: this.queueSel,
      interruptStatus: this.interruptStatus,
      configGeneration: this.configGeneration,
      queues: this.queues.map((q) => q.save()),
      device: this.backend.save(),
      deviceVersion: this.backend.stateVersion,
    };
  }

  restore(s: StateRecord, version: number): void {
    const n = this.name;
    requireStateVersion(n, version, [1, 2]);
    const deviceId = stateNumber(s, n, "deviceId");
    const queues = stateList(s, n, "queues");
    if (deviceId !== this.backend.deviceId || queues.length !== this.queues.length) {
      throw new SkiffError(
        "SNAPSHOT_STATE_INVALID",
        `${n}: snapshot holds device ${deviceId} with ${queues.length} queues, this slot has device ${this.backend.deviceId}`,
      );
    }
    // The backend first: it refuses a state it can't read before the transport changes anything.
    this.backend.restore(stateRecord(s, n, "device"), version === 1 ? 1 : stateNumber(s, n, "deviceVersion"));
    this.status = stateNumber(s, n, "status") & 0xff;
    this.deviceFeaturesSel = stateNumber(s, n, "deviceFeaturesSel") >>> 0;
    this.driverFeaturesSel = stateNumber(s, n, "driverFeaturesSel") >>> 0;
    this.driverFeatures.set(stateWords(s, n, "driverFeatures", 2));
    this.queueSel = stateNumber(s, n, "queueSel") >>> 0;
    this.interruptStatus = stateNumber(s, n, "interruptStatus") & 3;
    this.configGeneration = stateNumber(s, n, "configGeneration") >>> 0;
    const indirect = this.negotiated(VirtioFeature.INDIRECT_DESC);
    queues.forEach((qs, i) => {
      const q = this.queues[i]!;
      q.indirect = indirect;
      q.restore(stateRecord({ q: qs }, n, "q"), n);
    });
    this.irqLevel = this.interruptStatus !== 0;
    this.irq(this.irqLevel);
  }
}
