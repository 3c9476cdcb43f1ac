import { closeSync, fdatasyncSync, fstatSync, openSync, writeSync } from "node:fs";
import { SkiffError } from "@skiff/common";
import { readAt } from "../../file-read.js";
import { DISK_DIRTY_BLOCK, diskDirtyLogBytes } from "../../memory/dirty-log.js";
import { DirtyBitmap } from "../../memory/ram.js";
import { stateNumber } from "../../snapshot/fields.js";
import { requireStateVersion, type StateRecord } from "../../snapshot/state.js";
import type { AccessSize } from "../mmio.js";
import { type VirtioBackend, type VirtioDeviceContext, VirtioDeviceId } from "./device.js";
import type { DescriptorChain } from "./queue.js";

/** virtio-blk (virtio 1.1 §5.2): feature bits, request types, status values. */
export const VirtioBlkFeature = {
  SEG_MAX: 2,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
} as const;
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

export const SECTOR_SIZE = 512;
const QUEUE_SIZE = 256;
const HEADER_SIZE = 16;
const ID_BYTES = 20;
/** struct virtio_blk_config up to num_queues; the rest of the space reads as zero. */
const CONFIG_SIZE = 64;

export interface VirtioBlkOptions {
  path: string;
  readOnly?: boolean;
  /** The device ID string returned by GET_ID (at most 20 ASCII bytes); default from the file name. */
  serial?: string;
  /**
   * Dirty-block log: 1 bit per DISK_DIRTY_BLOCK bytes of the disk (the RAM dirty bitmap's layout),
   * set after every successful write. Shared with the VMM's main thread, which pre-copies the disk
   * during a live migration and fetches-and-clears it.
   */
  dirtyLog?: SharedArrayBuffer;
}

export { DISK_DIRTY_BLOCK, diskDirtyLogBytes };

/**
 * A virtio block device backed by a host file, with synchronous I/O on one file descriptor (the
 * vCPU thread waits for the disk, as a guest's own synchronous request would). Capacity is the
 * file size in 512-byte sectors; a trailing partial sector is not exposed.
 */
/**
 * virtio-blk's saved state (version 1): what the snapshot's disk looked like, checked against the
 * disk a restore opens. Requests complete synchronously, so none is ever in flight.
 */
export type BlkState = { capacity: number; readOnly: boolean };

export class VirtioBlk implements VirtioBackend {
  readonly deviceId = VirtioDeviceId.BLOCK;
  readonly stateVersion = 1;
  readonly kind = "virtio-blk";
  readonly features: readonly number[];
  readonly queueSizes = [QUEUE_SIZE] as const;
  readonly configSize = CONFIG_SIZE;
  readonly readOnly: boolean;
  readonly capacity: number;
  private readonly config = new Uint8Array(CONFIG_SIZE);
  private readonly id = new Uint8Array(ID_BYTES);
  private fd: number;
  private ctx: VirtioDeviceContext | undefined;
  private readonly dirty: DirtyBitmap | undefined;

  constructor(options: VirtioBlkOptions) {
    this.readOnly = options.readOnly ?? false;
    try {
      this.fd = openSync(options.path, this.readOnly ? "r" : "r+");
    } catch (err) {
      throw new SkiffError(
        "VIRTIO_BLK_OPEN_FAILED",
        `cannot open disk ${options.path}`,
        { path: options.path },
        {
          cause: err,
        },
      );
    }
    const size = fstatSync(this.fd).size;
    this.capacity = Math.floor(size / SECTOR_SIZE);
    if (options.dirtyLog) {
      if (options.dirtyLog.byteLength < diskDirtyLogBytes(size)) {
        closeSync(this.fd);
        throw new SkiffError("VIRTIO_BLK_DIRTY_LOG", `dirty-block log too small for ${size} bytes of disk`);
      }
      this.dirty = new DirtyBitmap(Math.ceil(size / DISK_DIRTY_BLOCK), options.dirtyLog);
    }
    this.features = [
      VirtioBlkFeature.SEG_MAX,
      VirtioBlkFeature.BLK_SIZE,
      VirtioBlkFeature.FLUSH,
      ...(this.readOnly ? [VirtioBlkFeature.RO] : []),
    ];
    const view = new DataView(this.config.buffer);
    view.setUint32(0, this.capacity >>> 0, true); // capacity (le64)
    view.setUint32(4, Math.floor(this.capacity / 2 ** 32), true);
    view.setUint32(12, QUEUE_SIZE - 2, true); // seg_max: a request's data plus header and status
    view.setUint32(20, SECTOR_SIZE, true); // blk_size
    view.setUint16(34, 1, true); // num_queues
    const serial = options.serial ?? options.path.split("/").pop() ?? "";
    for (let i = 0; i < Math.min(ID_BYTES, serial.length); i++) this.id[i] = serial.charCodeAt(i) & 0x7f;
  }

  /** Closes the backing file (the machine is being torn down). */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
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
    // Every field we expose is read-only (writeback needs VIRTIO_BLK_F_CONFIG_WCE, not offered).
  }

  notify(index: number): void {
    const q = this.ctx?.queue(index);
    if (!q) return;
    for (let chain = q.pop(); chain !== null; chain = q.pop()) {
      // A request needs its 16-byte header and a status byte; without them there is no answer.
      if (chain.readableLength < HEADER_SIZE || chain.writableLength < 1) {
        q.fail("virtio-blk request without header or status byte");
        return;
      }
      q.pushUsed(chain.head, this.handle(chain));
    }
  }

  /** Performs one request; returns the bytes written into the chain (the used length). */
  private handle(chain: DescriptorChain): number {
    const header = new DataView(chain.read(0, HEADER_SIZE).buffer);
    const type = header.getUint32(0, true);
    const sector = header.getUint32(12, true) * 2 ** 32 + header.getUint32(8, true);
    const statusAt = chain.writableLength - 1;
    let status: number;
    let dataWritten = 0;
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        const len = statusAt;
        status = this.checkRange(sector, len);
        if (status === VIRTIO_BLK_S_OK) {
          const data = new Uint8Array(len);
          if (this.io(() => readFully(this.fd, data, sector * SECTOR_SIZE)))
            dataWritten = chain.write(0, data);
          else status = VIRTIO_BLK_S_IOERR;
        }
        break;
      }
      case VIRTIO_BLK_T_OUT: {
        const len = chain.readableLength - HEADER_SIZE;
        // A read-only device fails writes and writes nothing (§5.2.6.1).
        status = this.readOnly ? VIRTIO_BLK_S_IOERR : this.checkRange(sector, len);
        if (status === VIRTIO_BLK_S_OK) {
          const data = chain.read(HEADER_SIZE, len);
          if (!this.io(() => writeFully(this.fd, data, sector * SECTOR_SIZE))) status = VIRTIO_BLK_S_IOERR;
          else if (this.dirty && len > 0) this.markWritten(sector * SECTOR_SIZE, len);
        }
        break;
      }
      case VIRTIO_BLK_T_FLUSH:
        status =
          this.readOnly || this.io(() => fdatasyncSync(this.fd)) ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
        break;
      case VIRTIO_BLK_T_GET_ID:
        dataWritten = chain.write(0, this.id.subarray(0, Math.min(ID_BYTES, statusAt)));
        status = VIRTIO_BLK_S_OK;
        break;
      default:
        status = VIRTIO_BLK_S_UNSUPP;
    }
    chain.write(statusAt, Uint8Array.of(status));
    // The used length counts bytes written from the start of the writable area (§2.6.8.2): data
    // plus the status byte when the data reached it, else the data alone (an honest undercount).
    return dataWritten === statusAt ? statusAt + 1 : dataWritten;
  }

  /** Logs the blocks of a write (after the data reached the file: a reader that clears the bit then reads sees it). */
  private markWritten(offset: number, len: number): void {
    const last = Math.floor((offset + len - 1) / DISK_DIRTY_BLOCK);
    for (let b = Math.floor(offset / DISK_DIRTY_BLOCK); b <= last; b++) this.dirty?.mark(b);
  }

  /** OK when [sector, sector + len) is whole sectors inside the disk. */
  private checkRange(sector: number, len: number): number {
    if (len % SECTOR_SIZE !== 0) return VIRTIO_BLK_S_IOERR;
    return sector + len / SECTOR_SIZE <= this.capacity ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
  }

  /** Runs host I/O; a host error becomes the guest's IOERR, never an exception in the vCPU. */
  private io(op: () => void): boolean {
    if (this.fd < 0) return false;
    try {
      op();
      return true;
    } catch {
      return false;
    }
  }

  reset(): void {
    // Requests complete synchronously, so nothing is ever in flight.
  }

  save(): BlkState {
    return { capacity: this.capacity, readOnly: this.readOnly };
  }

  restore(s: StateRecord, version: number): void {
    requireStateVersion(this.kind, version, [1]);
    const capacity = stateNumber(s, this.kind, "capacity");
    if (capacity !== this.capacity) {
      throw new SkiffError(
        "VIRTIO_BLK_DISK_MISMATCH",
        `disk has ${this.capacity} sectors, the snapshot's had ${capacity}`,
        { capacity: this.capacity, snapshot: capacity },
      );
    }
  }
}

function readFully(fd: number, buf: Uint8Array, position: number): void {
  if (readAt(fd, buf, 0, buf.length, position) < buf.length) throw new Error("unexpected end of disk file");
}

function writeFully(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}
