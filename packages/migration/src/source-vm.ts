/** What a migration source needs of the VM it moves: its RAM, disk, dirty bitmaps and vCPU. */
import type { DirtyBitmap } from "@skiff/hv-core";

/** The VM being migrated, as the sender sees it. */
export interface SourceVm {
  /** Guest RAM (shared with the running vCPU). */
  readonly ram: Uint8Array;
  /** Dirty bitmap of guest RAM (1 bit per 4 KiB page); the sender is its only reader. */
  readonly dirty: DirtyBitmap;
  readonly disk?: SourceDisk;
  /**
   * Stops the vCPU; resolves once it stands still, with the host clock (wallMs) of the moment it
   * stopped when the VM knows it (else the sender takes the moment the promise resolved).
   */
  pause(): Promise<number | undefined>;
  resume(): Promise<void>;
  /** CPU and device state without RAM (taken while paused). */
  deviceState(): Promise<Uint8Array>;
  /** Holds the vCPU back this share of the time (0 = full speed). */
  setThrottle(percent: number): void | Promise<void>;
}

export interface SourceDisk {
  /** A readable descriptor of the VM's disk image. */
  readonly fd: number;
  readonly bytes: number;
  /** Dirty bitmap of the disk (1 bit per DISK_BLOCK_SIZE block), set by the guest's writes. */
  readonly dirty: DirtyBitmap;
  /** The shared storage the disk is on (absent: local to this node); see in-place.ts. */
  readonly storageId?: string;
  /** Makes the guest's writes visible to other nodes of the storage (called while paused). */
  flush?(): void;
}
