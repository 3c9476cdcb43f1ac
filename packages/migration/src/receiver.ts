/**
 * The destination side: checks the hello against what its agent prepared, writes pages straight
 * into the destination VM's (shared) RAM and blocks into its disk, and at commit verifies the page
 * count and the RAM and disk checksums before it lets the VM run. Anything unexpected throws a
 * coded error: the caller answers `failed`, closes the stream and discards the VM shell. The commit
 * comes inside the device state record (this end offers that in `ready`) or, from a source that
 * does not know the field, as a record of its own.
 */
import { timingSafeEqual } from "node:crypto";
import { fdatasyncSync, writeSync } from "node:fs";
import { errorMessage, SkiffError } from "@skiff/common";
import type { MigrationHello, MigrationReply } from "@skiff/proto";
import { blockSum, ContentLedger } from "./checksum.js";
import { type Batch, decodeRecord } from "./codec.js";
import { decompress } from "./compress.js";
import { DISK_BLOCK_SIZE, FORMAT_VERSION, MigrationErrorCode, migrationError, PAGE_SIZE } from "./format.js";
import { diskBlocksChecksum } from "./in-place.js";
import type { ReceiverPort } from "./stream-ends.js";
import { wallMs } from "./wall-clock.js";

/** What the destination agent prepared: the hello must match it. */
export interface ReceiverExpectations {
  readonly migrationId: string;
  readonly vmId: string;
  readonly targetEpoch: number;
  readonly token: string;
  readonly memoryBytes: number;
}

/** The destination VM shell the receiver fills. */
export interface TargetVm {
  /** Guest RAM, all zero at the start (shared with the vCPU that will run it). */
  readonly ram: Uint8Array;
  /** Opens (creating or resizing) the VM's disk for `bytes`; returns a writable descriptor. */
  openDisk(bytes: number): number;
  /**
   * The source's disk (`bytes`) is on shared storage `storageId`. When this VM's disk is that very
   * disk, returns a readable descriptor of it: no block is sent, the disk stays where it is. Else
   * undefined (the disk is copied). Throws to refuse what must not be done, e.g. copying a disk
   * onto itself.
   */
  openDiskInPlace?(storageId: string, bytes: number): number | undefined;
  /**
   * The hello was accepted (a copied disk is open and sized): a target may build now, before the
   * pause, what restoring the device state needs.
   */
  accepted?(): void;
  /**
   * The device state arrived (every page and block is in place by then): a target may restore it
   * now, off the critical path, and find out at commit whether that worked.
   */
  prepare?(deviceState: Uint8Array): void;
  /** A pre-copy round ended (every later round carries only what the guest dirtied since). */
  roundEnded?(round: number): void;
  /**
   * Makes the VM this node's and runs it. Throws only if it did not commit (nothing persisted);
   * resolves with the host clock (wallMs) of the guest's first instruction and, when known, of
   * the restored vCPU being ready and of the commit point.
   */
  commit(deviceState: Uint8Array, targetEpoch: number): Promise<CommitTimes>;
}

export interface CommitTimes {
  readonly resumedAtMs: number;
  readonly restoredAtMs?: number;
  readonly commitPointAtMs?: number;
}

type Stage = "hello" | "transfer" | "state" | "committing" | "committed" | "failed";

export class MigrationReceiver {
  private stage: Stage = "hello";
  private hello: MigrationHello | undefined;
  private pages = 0;
  private ram: ContentLedger | undefined;
  private disk: ContentLedger | undefined;
  private diskFd = -1;
  private diskBytes = 0;
  /** The disk stays where it is on shared storage (nothing of it is sent). */
  private diskInPlace = false;
  private records = 0;
  private bytes = 0;
  private lastRound = -1;
  private deviceState: Uint8Array | undefined;
  /** Host clock (wallMs) when the device state and the commit records were processed. */
  private commitAtMs = 0;
  private stateAtMs = 0;
  /** The source's pause (wallMs), and when the first and last data of the last round came. */
  private pausedAtMs = 0;
  private roundDataAtMs: [number, number] = [0, 0];

  constructor(
    private readonly expect: ReceiverExpectations,
    private readonly target: TargetVm,
  ) {}

  get committed(): boolean {
    return this.stage === "committed";
  }

  get bytesReceived(): number {
    return this.bytes;
  }

  /** Applies one received record; returns the replies to send. Throws a coded error to abort. */
  async receive(buf: Uint8Array): Promise<MigrationReply[]> {
    if (this.stage === "committed" || this.stage === "failed" || this.stage === "committing") {
      throw migrationError(MigrationErrorCode.PROTOCOL, `record after the migration ${this.stage}`);
    }
    const rec = decodeRecord(buf);
    this.bytes += buf.length;
    if (rec.kind === "pages" || rec.kind === "disk") {
      this.need("transfer", rec.kind);
      const now = wallMs();
      if (this.roundDataAtMs[0] === 0) this.roundDataAtMs[0] = now;
      this.roundDataAtMs[1] = now;
      if (rec.kind === "pages") this.applyPages(rec.batch);
      else this.applyBlocks(rec.batch);
      this.records++;
      return [];
    }
    const k = rec.record.kind;
    if (k === undefined) throw migrationError(MigrationErrorCode.PROTOCOL, "unknown record kind");
    let replies: MigrationReply[] = [];
    switch (k.$case) {
      case "hello":
        this.need("hello", "hello");
        this.acceptHello(k.value);
        this.stage = "transfer";
        this.target.accepted?.();
        replies = [
          {
            kind: {
              $case: "ready",
              value: {
                formatVersion: FORMAT_VERSION,
                commitWithState: true,
                ...(this.diskInPlace ? { diskInPlace: true } : {}),
              },
            },
          },
        ];
        break;
      case "roundEnd":
        this.need("transfer", "round_end");
        // Flush what the round wrote to the disk now, so the commit does not wait for it.
        if (this.disk) this.syncDisk();
        if (k.value.round <= this.lastRound) {
          throw migrationError(
            MigrationErrorCode.PROTOCOL,
            `round ${k.value.round} after round ${this.lastRound}`,
          );
        }
        this.lastRound = k.value.round;
        // The commit is verified once, in the pause: fold the checksums now, so that it runs
        // compiled code (cold, a fold took ~1 ms between the commit record and its verification).
        this.ram?.checksum();
        this.disk?.checksum();
        this.roundDataAtMs = [0, 0];
        this.target.roundEnded?.(k.value.round);
        replies = [
          { kind: { $case: "roundAck", value: { round: k.value.round, bytesReceived: this.bytes } } },
        ];
        break;
      case "deviceState":
        this.need("transfer", "device_state");
        if (k.value.snapshot.length === 0)
          throw migrationError(MigrationErrorCode.PROTOCOL, "empty device state");
        this.stateAtMs = wallMs();
        this.pausedAtMs = k.value.pausedAtMs;
        this.deviceState = k.value.snapshot;
        this.stage = "state";
        if (k.value.commit) {
          // The commit in the same message (its count is of the records before this one): checked
          // before the vCPU is woken to restore, which would take the core from the check.
          const verifiedAtMs = this.verify(k.value.commit);
          this.target.prepare?.(k.value.snapshot);
          return [await this.commit(k.value.commit.targetEpoch, verifiedAtMs)];
        }
        this.target.prepare?.(k.value.snapshot);
        break;
      case "commit":
        this.need("state", "commit");
        return [await this.commit(k.value.targetEpoch, this.verify(k.value))];
      case "abort":
        throw new SkiffError(
          MigrationErrorCode.ABORTED,
          `source aborted: ${k.value.code}: ${k.value.message}`,
        );
      default:
        throw migrationError(MigrationErrorCode.PROTOCOL, `unexpected record ${k.$case}`);
    }
    this.records++;
    return replies;
  }

  private need(stage: Stage, what: string): void {
    if (this.stage !== stage) {
      throw migrationError(MigrationErrorCode.PROTOCOL, `${what} record while in stage ${this.stage}`);
    }
  }

  private acceptHello(h: MigrationHello): void {
    const e = this.expect;
    const refuse = (msg: string): never => {
      throw migrationError(MigrationErrorCode.REFUSED, msg);
    };
    if (h.formatVersion !== FORMAT_VERSION)
      refuse(`stream format ${h.formatVersion} is not spoken here (this end speaks ${FORMAT_VERSION})`);
    const a = Buffer.from(h.token);
    const b = Buffer.from(e.token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) refuse("wrong migration token");
    if (h.vmId !== e.vmId) refuse(`hello names vm ${h.vmId}, prepared for ${e.vmId}`);
    if (h.migrationId !== e.migrationId)
      refuse(`hello names migration ${h.migrationId}, prepared for ${e.migrationId}`);
    if (h.targetEpoch !== e.targetEpoch)
      refuse(`target epoch ${h.targetEpoch}, prepared for ${e.targetEpoch}`);
    if (h.sourceEpoch >= h.targetEpoch) refuse(`target epoch ${h.targetEpoch} is not above ${h.sourceEpoch}`);
    if (h.memoryBytes !== e.memoryBytes || h.memoryBytes !== this.target.ram.length)
      refuse(`memory ${h.memoryBytes} bytes, prepared for ${e.memoryBytes}`);
    if (h.pageSize !== PAGE_SIZE) refuse(`page size ${h.pageSize}`);
    if (h.diskBytes > 0 && h.diskBlockSize !== DISK_BLOCK_SIZE) refuse(`disk block size ${h.diskBlockSize}`);
    this.hello = h;
    this.pages = Math.floor(h.memoryBytes / PAGE_SIZE);
    this.ram = new ContentLedger(this.pages, PAGE_SIZE);
    if (h.diskBytes > 0) {
      this.diskBytes = h.diskBytes;
      const inPlace = h.diskStorageId
        ? this.target.openDiskInPlace?.(h.diskStorageId, h.diskBytes)
        : undefined;
      if (inPlace !== undefined) {
        this.diskFd = inPlace;
        this.diskInPlace = true;
      } else {
        this.diskFd = this.target.openDisk(h.diskBytes);
        this.disk = new ContentLedger(Math.ceil(h.diskBytes / DISK_BLOCK_SIZE), DISK_BLOCK_SIZE);
      }
    }
  }

  /** Checks a batch's shape and returns its data, inflated. */
  private batchData(b: Batch, count: number, size: number, what: string): Uint8Array {
    for (const list of [b.items, b.zeroItems]) {
      for (const i of list) {
        if (i >= count)
          throw migrationError(MigrationErrorCode.PROTOCOL, `${what} ${i} out of range (${count})`);
      }
    }
    const data = decompress(b.compression, b.data, b.items.length * size);
    if (data.length !== b.items.length * size) {
      throw migrationError(
        MigrationErrorCode.PROTOCOL,
        `${what} batch of ${b.items.length} carries ${data.length} bytes`,
      );
    }
    return data;
  }

  private applyPages(b: Batch): void {
    const ledger = this.ram!;
    const data = this.batchData(b, this.pages, PAGE_SIZE, "page");
    const ram = this.target.ram;
    const items = b.items;
    for (let k = 0; k < items.length; ) {
      // Runs of neighbouring pages in one copy.
      let j = k + 1;
      while (j < items.length && items[j] === items[k]! + (j - k)) j++;
      ram.set(data.subarray(k * PAGE_SIZE, j * PAGE_SIZE), items[k]! * PAGE_SIZE);
      k = j;
    }
    // Summed where they landed: page-aligned, and exactly what the guest will see.
    for (let k = 0; k < items.length; k++)
      ledger.setData(items[k]!, blockSum(ram, items[k]! * PAGE_SIZE, PAGE_SIZE));
    for (const p of b.zeroItems) {
      ram.fill(0, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
      ledger.setZero(p);
    }
  }

  private applyBlocks(b: Batch): void {
    const ledger = this.disk;
    if (!ledger) {
      throw migrationError(
        MigrationErrorCode.PROTOCOL,
        this.diskInPlace ? "disk blocks for a disk kept in place" : "disk blocks for a VM without a disk",
      );
    }
    const data = this.batchData(b, ledger.blocks, DISK_BLOCK_SIZE, "disk block");
    for (let k = 0; k < b.items.length; k++) {
      const blk = b.items[k]!;
      this.writeBlock(blk, data.subarray(k * DISK_BLOCK_SIZE, (k + 1) * DISK_BLOCK_SIZE));
      ledger.setData(blk, blockSum(data, k * DISK_BLOCK_SIZE, DISK_BLOCK_SIZE));
    }
    if (b.zeroItems.length > 0) {
      const zero = new Uint8Array(DISK_BLOCK_SIZE);
      for (const blk of b.zeroItems) {
        this.writeBlock(blk, zero);
        ledger.setZero(blk);
      }
    }
  }

  private syncDisk(): void {
    try {
      fdatasyncSync(this.diskFd);
    } catch (err) {
      throw migrationError(MigrationErrorCode.TARGET_FAILED, `disk sync: ${errorMessage(err)}`);
    }
  }

  private writeBlock(block: number, bytes: Uint8Array): void {
    const pos = block * DISK_BLOCK_SIZE;
    // The last block of a disk whose size is not a multiple of the block size is partial.
    const len = Math.min(bytes.length, this.diskBytes - pos);
    let done = 0;
    try {
      while (done < len) done += writeSync(this.diskFd, bytes, done, len - done, pos + done);
    } catch (err) {
      throw migrationError(MigrationErrorCode.TARGET_FAILED, `disk write: ${errorMessage(err)}`);
    }
  }

  /** Checks the commit against what arrived; returns when it passed (wallMs). */
  private verify(c: {
    targetEpoch: number;
    nonzeroPages: number;
    nonzeroBlocks: number;
    ramChecksum: number;
    diskChecksum: number;
    records: number;
    diskWritten?: { blocks: number[]; checksum: number } | undefined;
  }): number {
    this.commitAtMs = wallMs();
    const fail = (msg: string): never => {
      throw migrationError(MigrationErrorCode.VERIFY_FAILED, msg);
    };
    const ram = this.ram!;
    if (c.targetEpoch !== this.expect.targetEpoch) fail(`commit for epoch ${c.targetEpoch}`);
    if (c.records !== this.records) fail(`source sent ${c.records} records, ${this.records} arrived`);
    if (c.nonzeroPages !== ram.nonZeroBlocks)
      fail(`source has ${c.nonzeroPages} non-zero pages, destination ${ram.nonZeroBlocks}`);
    if (c.ramChecksum !== ram.checksum()) fail("RAM checksum mismatch");
    if (this.disk) {
      if (c.nonzeroBlocks !== this.disk.nonZeroBlocks)
        fail(`source has ${c.nonzeroBlocks} non-zero disk blocks, destination ${this.disk.nonZeroBlocks}`);
      if (c.diskChecksum !== this.disk.checksum()) fail("disk checksum mismatch");
    }
    if (this.diskInPlace) {
      // Nothing was sent: check that this end sees on the storage what the source's guest wrote.
      const w = c.diskWritten;
      if (!w) fail("the commit of a disk kept in place names no written blocks");
      const blocks = Math.ceil(this.diskBytes / DISK_BLOCK_SIZE);
      if (w!.blocks.some((b) => b >= blocks)) fail("written disk block out of range");
      if (diskBlocksChecksum(this.diskFd, w!.blocks) !== w!.checksum) {
        fail(`the disk on shared storage does not hold what the source wrote (${w!.blocks.length} blocks)`);
      }
    }
    return wallMs();
  }

  /** Makes the verified VM the target's; the reply for the source. */
  private async commit(targetEpoch: number, verifiedAtMs: number): Promise<MigrationReply> {
    this.stage = "committing";
    let times: CommitTimes;
    try {
      times = await this.target.commit(this.deviceState!, targetEpoch);
    } catch (err) {
      this.stage = "failed";
      if (err instanceof SkiffError) throw err;
      throw migrationError(MigrationErrorCode.TARGET_FAILED, errorMessage(err));
    }
    this.stage = "committed";
    return {
      kind: {
        $case: "committed",
        value: {
          epoch: targetEpoch,
          resumedAtMs: times.resumedAtMs,
          verifyMs: verifiedAtMs - this.commitAtMs,
          stateAtMs: this.stateAtMs,
          verifiedAtMs,
          restoredAtMs: times.restoredAtMs ?? 0,
          commitPointAtMs: times.commitPointAtMs ?? 0,
        },
      },
    };
  }

  /**
   * What the pause cost beyond its data, given the guest's first instruction here (wallMs): the
   * downtime less the time the last round's data took to arrive. Undefined without the source's
   * stamp of its pause.
   */
  pauseFixedMs(resumedAtMs: number): number | undefined {
    if (this.pausedAtMs <= 0) return undefined;
    const [first, last] = this.roundDataAtMs;
    return Math.max(0, resumedAtMs - this.pausedAtMs - (last - first));
  }

  /** The hello, once accepted. */
  get acceptedHello(): MigrationHello | undefined {
    return this.hello;
  }
}

export interface ReceiveResult {
  readonly committed: boolean;
  readonly error?: SkiffError;
}

/**
 * Drives a receiver over a stream of records until it commits or fails. On failure the source is
 * told why (best effort) and the stream is closed; the caller discards the VM shell.
 */
export async function receiveMigration(
  receiver: MigrationReceiver,
  records: AsyncIterable<Uint8Array>,
  port: ReceiverPort,
): Promise<ReceiveResult> {
  try {
    for await (const buf of records) {
      for (const reply of await receiver.receive(buf)) port.reply(reply);
      if (receiver.committed) {
        port.close();
        return { committed: true };
      }
    }
    throw migrationError(MigrationErrorCode.STREAM_BROKEN, "the stream ended before the commit");
  } catch (err) {
    if (receiver.committed) return { committed: true };
    const e =
      err instanceof SkiffError ? err : migrationError(MigrationErrorCode.STREAM_BROKEN, errorMessage(err));
    port.reply({ kind: { $case: "failed", value: { code: e.code, message: e.message } } });
    port.close();
    return { committed: false, error: e };
  }
}
