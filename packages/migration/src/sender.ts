/**
 * The source side of a live migration: pre-copy rounds driven by the dirty bitmaps of guest RAM
 * and of the disk, the convergence policy with auto-converge, then stop-and-copy and the commit
 * handshake. The guest keeps running in its own thread while rounds copy its pages.
 *
 * Exactly one running copy: until the commit record is sent, every failure rolls back (the source
 * resumes, the destination discards). After it is sent, only the destination's answer decides:
 * `committed` (the source must exit), `failed` (resume), or no answer at all: IN_DOUBT, the source
 * stays paused and someone must ask the destination (AbortMigrationTarget) before it may resume.
 */
import { readSync } from "node:fs";
import { errorMessage, SkiffError } from "@skiff/common";
import { Compression, type CompressionModeName, MigrationPhase, type MigrationReply } from "@skiff/proto";
import { blockSum, ContentLedger, isZeroBlock, isZeroRange } from "./checksum.js";
import { allocBatch, type BatchKind, encodeRecord } from "./codec.js";
import { CompressionGate } from "./compress.js";
import {
  BATCH_ITEMS,
  DISK_BLOCK_SIZE,
  FORMAT_VERSION,
  MigrationErrorCode,
  migrationError,
  PAGE_SIZE,
} from "./format.js";
import { diskBlocksChecksum, sampleBlocks } from "./in-place.js";
import { resolveMigrationSettings } from "./options.js";
import { ConvergencePolicy } from "./policy.js";
import {
  emptyTally,
  type MigrationEnd,
  type MigrationReport,
  type RoundReport,
  type RoundTally,
  SenderCounters,
  type StopCopyTimes,
} from "./report.js";
import type { SourceVm } from "./source-vm.js";
import { type GuardedLink, guardStalls } from "./stall-guard.js";
import type { SenderLink } from "./stream-ends.js";
import { wallMs } from "./wall-clock.js";

export interface SenderOptions {
  readonly migrationId: string;
  readonly vmId: string;
  readonly sourceEpoch: number;
  readonly targetEpoch: number;
  readonly token: string;
  /** Defaults: MIGRATION_DEFAULTS (options.ts). */
  readonly maxDowntimeMs?: number;
  /** Bytes/s, 0 = no cap. */
  readonly bandwidthBytesPerSec?: number;
  readonly maxRounds?: number;
  readonly timeoutMs?: number;
  readonly autoConverge?: boolean;
  readonly compression?: CompressionModeName;
  readonly signal?: AbortSignal;
  /** What the pause costs beyond its data, as measured on this VM's last pause (ConvergenceLimits). */
  readonly fixedDowntimeMs?: number;
  /** The stream is broken once the sender waits this long on it with nothing moving (STALL_TIMEOUT_MS). */
  readonly stallTimeoutMs?: number;
  /** Called after every round (progress for the control plane). */
  readonly onRound?: (round: RoundReport) => void;
  /** Called as the source enters stop-and-copy (vCPU paused) and sends the commit. */
  readonly onPhase?: (phase: MigrationPhase) => void;
}

type ReplyKind = NonNullable<MigrationReply["kind"]>;
type ReplyCase = ReplyKind["$case"];
type ReplyValue<K extends ReplyCase> = Extract<ReplyKind, { $case: K }>["value"];

type Phase = "precopy" | "stopcopy" | "commit-sent" | "done";

export class MigrationSender {
  private readonly pages: number;
  private readonly blocks: number;
  private readonly ram: ContentLedger;
  private readonly disk: ContentLedger | undefined;
  private readonly policy: ConvergencePolicy;
  private readonly gate: CompressionGate;
  private readonly deadline: number;
  private readonly cap: number;
  private phase: Phase = "precopy";
  private paused = false;
  /** The destination opens the disk on shared storage itself (its answer to the hello). */
  private diskInPlace = false;
  /** The destination takes the commit inside the device state record (its answer to the hello). */
  private commitWithState = false;
  private refused = false;
  private capStart = 0;
  private capBytes = 0;
  private scratch: Buffer | undefined;
  private stopCopyTimes: StopCopyTimes | undefined;
  private readonly counts = new SenderCounters();
  private readonly link: GuardedLink;

  constructor(
    private readonly vm: SourceVm,
    link: SenderLink,
    private readonly opts: SenderOptions,
  ) {
    this.link = guardStalls(link, opts.stallTimeoutMs);
    this.pages = Math.floor(vm.ram.length / PAGE_SIZE);
    this.blocks = vm.disk ? Math.ceil(vm.disk.bytes / DISK_BLOCK_SIZE) : 0;
    this.ram = new ContentLedger(this.pages, PAGE_SIZE);
    this.disk = vm.disk ? new ContentLedger(this.blocks, DISK_BLOCK_SIZE) : undefined;
    const settings = resolveMigrationSettings(opts);
    this.policy = new ConvergencePolicy({ ...settings, fixedDowntimeMs: opts.fixedDowntimeMs });
    this.gate = new CompressionGate(settings.compression);
    this.deadline = Date.now() + settings.timeoutMs;
    this.cap = settings.bandwidthBytesPerSec;
  }

  /** Runs the migration to its outcome. Never throws: failures are the report's outcome. */
  async run(): Promise<MigrationReport> {
    const started = performance.now();
    let downtimeMs = 0;
    let stopReason = "";
    try {
      await this.handshake();
      stopReason = await this.precopy();
      downtimeMs = await this.stopAndCopy();
      this.phase = "done";
      return this.report("committed", started, downtimeMs, stopReason);
    } catch (err) {
      return this.fail(err, started, stopReason);
    } finally {
      this.link.dispose();
    }
  }

  private async fail(err: unknown, started: number, stopReason: string): Promise<MigrationReport> {
    const code = err instanceof SkiffError ? err.code : MigrationErrorCode.STREAM_BROKEN;
    const error = { code, message: errorMessage(err) };
    if (this.phase === "commit-sent" && !this.refused) {
      // The destination may have committed: never resume on our own.
      this.link.close();
      await this.release(false);
      return this.report("in-doubt", started, 0, stopReason, {
        code: MigrationErrorCode.IN_DOUBT,
        message: `commit sent, no answer: ${error.message}`,
      });
    }
    try {
      await this.link.send(encodeRecord({ kind: { $case: "abort", value: error } }));
    } catch {
      // the link is already gone; the destination discards on its own
    }
    this.link.close();
    await this.release(true);
    return this.report("rolled-back", started, 0, stopReason, error);
  }

  /** Takes the throttle off and, when it must, lets the guest run again. */
  private async release(resume: boolean): Promise<void> {
    try {
      await this.vm.setThrottle(0);
      if (resume && this.paused) {
        await this.vm.resume();
        this.paused = false;
      }
    } catch {
      // the VM went away meanwhile; whoever owns it sees that
    }
  }

  private check(): void {
    if (this.opts.signal?.aborted) throw migrationError(MigrationErrorCode.CANCELLED, "migration cancelled");
    if (Date.now() > this.deadline) throw migrationError(MigrationErrorCode.TIMEOUT, "migration timed out");
  }

  /** Waits for the next reply, bounded by the deadline and the cancel signal. */
  private async expect<K extends ReplyCase>(kind: K): Promise<ReplyValue<K>> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const signal = this.opts.signal;
    const cancellable = this.phase !== "commit-sent";
    try {
      const reply = await Promise.race([
        this.link.reply(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(migrationError(MigrationErrorCode.TIMEOUT, `no ${kind} from the destination in time`)),
            Math.max(0, this.deadline - Date.now()),
          );
          if (signal && cancellable) {
            onAbort = () => reject(migrationError(MigrationErrorCode.CANCELLED, "migration cancelled"));
            if (signal.aborted) onAbort();
            else signal.addEventListener("abort", onAbort, { once: true });
          }
        }),
      ]);
      const k = reply.kind;
      if (k?.$case === "failed") {
        // An explicit refusal: the destination did not commit and will not.
        this.refused = true;
        const code = k.value.code === "" ? MigrationErrorCode.REFUSED : k.value.code;
        throw new SkiffError(code, `destination: ${k.value.message}`);
      }
      if (k?.$case !== kind) {
        throw migrationError(
          MigrationErrorCode.PROTOCOL,
          `expected ${kind}, destination sent ${k?.$case ?? "nothing"}`,
        );
      }
      return k.value as ReplyValue<K>;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  private async send(...records: Buffer[]): Promise<void> {
    await this.link.send(...records);
    for (const record of records) {
      this.counts.recordSent(record.length);
      if (this.cap > 0) await this.pace(record.length);
    }
  }

  /** Holds the average rate at or under the bandwidth cap. */
  private async pace(bytes: number): Promise<void> {
    const now = performance.now();
    if (this.capStart === 0 || now - this.capStart > 1000) {
      this.capStart = now;
      this.capBytes = 0;
    }
    this.capBytes += bytes;
    const due = this.capStart + (this.capBytes / this.cap) * 1000;
    if (due > now + 1) await new Promise((r) => setTimeout(r, due - now));
  }

  private async handshake(): Promise<void> {
    const o = this.opts;
    await this.send(
      encodeRecord({
        kind: {
          $case: "hello",
          value: {
            formatVersion: FORMAT_VERSION,
            migrationId: o.migrationId,
            vmId: o.vmId,
            sourceEpoch: o.sourceEpoch,
            targetEpoch: o.targetEpoch,
            token: o.token,
            memoryBytes: this.vm.ram.length,
            pageSize: PAGE_SIZE,
            diskBytes: this.vm.disk?.bytes ?? 0,
            diskBlockSize: DISK_BLOCK_SIZE,
            diskStorageId: this.vm.disk?.storageId ?? "",
          },
        },
      }),
    );
    const ready = await this.expect("ready");
    if (ready.diskInPlace && !this.vm.disk?.storageId) {
      throw migrationError(
        MigrationErrorCode.PROTOCOL,
        "the destination keeps in place a disk not on shared storage",
      );
    }
    this.diskInPlace = ready.diskInPlace === true;
    this.commitWithState = ready.commitWithState === true;
  }

  /** Pre-copy rounds until the policy says stop; returns why it stopped. */
  private async precopy(): Promise<string> {
    const vm = this.vm;
    // Dirty logging starts now: whatever the bitmaps held before is covered by round 0's full pass.
    vm.dirty.fetchAndClear();
    vm.disk?.dirty.fetchAndClear();
    for (let round = 0; ; round++) {
      this.check();
      const t0 = performance.now();
      const tally = emptyTally();
      if (round === 0) {
        await this.sendAllPages(tally);
        if (!this.diskInPlace) await this.sendAllBlocks(tally);
        this.counts.nonZeroBytes = this.ram.nonZeroBlocks * PAGE_SIZE;
      } else {
        await this.sendItems("pages", round, vm.dirty.fetchAndClear(), tally);
        if (vm.disk && !this.diskInPlace)
          await this.sendItems("disk", round, vm.disk.dirty.fetchAndClear(), tally);
      }
      await this.endRound(round, tally);
      const ms = performance.now() - t0;
      this.counts.sendingMs += ms;
      const dirtyPages = vm.dirty.count();
      const dirtyBlocks = this.diskInPlace ? 0 : (vm.disk?.dirty.count() ?? 0);
      const decision = this.policy.next({
        round,
        bytes: tally.bytes,
        ms,
        remainingItems: dirtyPages + dirtyBlocks,
        remainingBytes: (dirtyPages + dirtyBlocks) * (PAGE_SIZE + 8),
        dirtyBytesPerSec: ms > 0 ? ((dirtyPages * PAGE_SIZE + dirtyBlocks * DISK_BLOCK_SIZE) / ms) * 1000 : 0,
      });
      this.record(
        round,
        MigrationPhase.MIGRATION_PHASE_PRECOPY,
        tally,
        ms,
        ms > 0 ? (dirtyPages / ms) * 1000 : 0,
      );
      if (this.counts.throttleChanged(decision.throttlePercent))
        await vm.setThrottle(decision.throttlePercent);
      if (decision.action === "stop") return decision.reason;
    }
  }

  private record(
    round: number,
    phase: MigrationPhase,
    t: RoundTally,
    ms: number,
    dirtyPagesPerSec: number,
  ): void {
    const r = this.counts.addRound(round, phase, t, ms, dirtyPagesPerSec, this.policy.bandwidthBytesPerSec);
    this.opts.onRound?.(r);
  }

  private async endRound(round: number, t: RoundTally): Promise<void> {
    await this.send(
      encodeRecord({
        kind: {
          $case: "roundEnd",
          value: { round, pages: t.pages + t.zeroPages, blocks: t.blocks, bytes: t.bytes },
        },
      }),
    );
    // The commit's checksums are folded once, in the pause: fold them now while the ack is on its
    // way, so that the pause runs compiled code (cold, a fold took ~1 ms).
    this.ram.checksum();
    this.disk?.checksum();
    const ack = await this.expect("roundAck");
    if (ack.round !== round) {
      throw migrationError(MigrationErrorCode.PROTOCOL, `round ${round} acknowledged as ${ack.round}`);
    }
  }

  /** Round 0: every non-zero page (the destination starts from zeroed memory). */
  private async sendAllPages(tally: RoundTally): Promise<void> {
    const ram = this.vm.ram;
    const batch: number[] = [];
    for (let first = 0; first < this.pages; first += BATCH_ITEMS) {
      const n = Math.min(BATCH_ITEMS, this.pages - first);
      // Most of a fresh guest's RAM is zero in long runs: skip those a megabyte at a time.
      if (isZeroRange(ram, first * PAGE_SIZE, n * PAGE_SIZE)) continue;
      for (let p = first; p < first + n; p++) {
        if (isZeroBlock(ram, p * PAGE_SIZE, PAGE_SIZE)) continue;
        batch.push(p);
        if (batch.length === BATCH_ITEMS) {
          await this.sendBatch("pages", 0, batch, [], tally);
          batch.length = 0;
          this.check();
        }
      }
    }
    if (batch.length > 0) await this.sendBatch("pages", 0, batch, [], tally);
  }

  /** Round 0 of the disk: every non-zero block, read in large chunks. */
  private async sendAllBlocks(tally: RoundTally): Promise<void> {
    const disk = this.vm.disk;
    if (!disk) return;
    const chunk = Buffer.alloc(BATCH_ITEMS * DISK_BLOCK_SIZE);
    for (let first = 0; first < this.blocks; first += BATCH_ITEMS) {
      const n = Math.min(BATCH_ITEMS, this.blocks - first);
      chunk.fill(0);
      readAt(disk.fd, chunk, n * DISK_BLOCK_SIZE, first * DISK_BLOCK_SIZE);
      const items: number[] = [];
      for (let i = 0; i < n; i++)
        if (!isZeroBlock(chunk, i * DISK_BLOCK_SIZE, DISK_BLOCK_SIZE)) items.push(first + i);
      if (items.length > 0) await this.sendBatch("disk", 0, items, [], tally, chunk, first);
      this.check();
    }
  }

  /** Later rounds: the given dirty items, zero ones as markers. */
  private async sendItems(
    kind: BatchKind,
    round: number,
    items: Uint32Array,
    tally: RoundTally,
  ): Promise<void> {
    const data: number[] = [];
    const zeros: number[] = [];
    const size = kind === "pages" ? PAGE_SIZE : DISK_BLOCK_SIZE;
    let source = this.vm.ram;
    let base = 0;
    for (let i = 0; i < items.length; i += BATCH_ITEMS) {
      const slice = items.subarray(i, i + BATCH_ITEMS);
      data.length = 0;
      zeros.length = 0;
      if (kind === "disk") {
        // Read the batch's blocks into a scratch buffer (runs of neighbours in one read).
        source = this.readBlocks(slice);
        base = -1;
      }
      for (let j = 0; j < slice.length; j++) {
        const item = slice[j]!;
        const off = base === -1 ? j * size : item * size;
        if (isZeroBlock(source, off, size)) zeros.push(item);
        else data.push(item);
      }
      await this.sendBatch(
        kind,
        round,
        data,
        zeros,
        tally,
        base === -1 ? source : undefined,
        base === -1 ? slice : undefined,
      );
      this.check();
    }
  }

  private readBlocks(blocks: Uint32Array): Buffer {
    const disk = this.vm.disk!;
    const need = blocks.length * DISK_BLOCK_SIZE;
    if (!this.scratch || this.scratch.length < need)
      this.scratch = Buffer.alloc(BATCH_ITEMS * DISK_BLOCK_SIZE);
    const buf = this.scratch.subarray(0, need);
    buf.fill(0);
    for (let j = 0; j < blocks.length; ) {
      let k = j + 1;
      while (k < blocks.length && blocks[k] === blocks[k - 1]! + 1) k++;
      readAt(
        disk.fd,
        buf.subarray(j * DISK_BLOCK_SIZE, k * DISK_BLOCK_SIZE),
        (k - j) * DISK_BLOCK_SIZE,
        blocks[j]! * DISK_BLOCK_SIZE,
      );
      j = k;
    }
    return buf;
  }

  /**
   * Sends one batch. Page data comes from guest RAM at `item * size`, or for disk batches from
   * `chunk`, where item `i` sits at `(i - first) * size` (first: a number) or at its position in
   * `order` (the batch's block list).
   */
  private async sendBatch(
    kind: BatchKind,
    round: number,
    items: number[],
    zeros: number[],
    tally: RoundTally,
    chunk?: Uint8Array,
    where?: number | Uint32Array,
  ): Promise<void> {
    const size = kind === "pages" ? PAGE_SIZE : DISK_BLOCK_SIZE;
    const ledger = kind === "pages" ? this.ram : this.disk!;
    const src = chunk ?? this.vm.ram;
    const offsetOf = (item: number, k: number): number => {
      if (chunk === undefined) return item * size;
      if (typeof where === "number") return (item - where) * size;
      return where ? indexIn(where, item, k) * size : k * size;
    };
    const rawLength = items.length * size;
    let msg = allocBatch(kind, round, items, zeros, rawLength, Compression.COMPRESSION_NONE);
    // Copy runs of neighbouring items with one call each.
    for (let k = 0; k < items.length; ) {
      const off = offsetOf(items[k]!, k);
      let j = k + 1;
      while (j < items.length && offsetOf(items[j]!, j) === off + (j - k) * size) j++;
      msg.data.set(src.subarray(off, off + (j - k) * size), k * size);
      k = j;
    }
    // Sums over exactly the bytes that go out: the copy, not guest RAM (which may change meanwhile).
    for (let k = 0; k < items.length; k++) ledger.setData(items[k]!, blockSum(msg.data, k * size, size));
    for (const z of zeros) ledger.setZero(z);
    if (rawLength > 0 && this.gate.shouldTry(this.policy.bandwidthBytesPerSec, this.cap)) {
      const packed = this.gate.compress(msg.data);
      if (packed) {
        const c = allocBatch(kind, round, items, zeros, packed.length, Compression.COMPRESSION_DEFLATE);
        c.data.set(packed);
        msg = c;
      }
    }
    await this.send(msg.message);
    this.counts.batchSent(tally, kind, items.length, zeros.length, msg.message.length, rawLength);
  }

  /** Pause, last dirty pages and blocks, device state, commit; returns the downtime. */
  private async stopAndCopy(): Promise<number> {
    const vm = this.vm;
    this.check();
    this.phase = "stopcopy";
    const t0 = performance.now();
    const wallBefore = wallMs();
    const stoppedAtMs = await vm.pause();
    this.paused = true;
    const pausedAtMs = stoppedAtMs ?? wallMs();
    this.opts.onPhase?.(MigrationPhase.MIGRATION_PHASE_STOPCOPY);
    const tally = emptyTally();
    await this.sendItems("pages", this.counts.rounds.length, vm.dirty.fetchAndClear(), tally);
    if (vm.disk && !this.diskInPlace)
      await this.sendItems("disk", this.counts.rounds.length, vm.disk.dirty.fetchAndClear(), tally);
    const written = this.diskInPlace ? this.diskWritten() : undefined;
    const lastPageAtMs = wallMs();
    const state = await vm.deviceState();
    const records = this.stateAndCommit(state, pausedAtMs, written);
    this.check();
    // From here on the destination may commit at any moment.
    this.phase = "commit-sent";
    this.opts.onPhase?.(MigrationPhase.MIGRATION_PHASE_COMMITTING);
    await this.send(...records);
    const stateSentAtMs = wallMs();
    this.link.end();
    const committed = await this.expect("committed");
    const answerAtMs = wallMs();
    const after = (atMs: number) => (atMs > 0 ? atMs - pausedAtMs : 0);
    this.stopCopyTimes = {
      pauseWaitMs: Math.max(0, pausedAtMs - wallBefore),
      lastPageSentMs: after(lastPageAtMs),
      deviceStateSentMs: after(stateSentAtMs),
      stateArrivedMs: after(committed.stateAtMs),
      verifiedMs: after(committed.verifiedAtMs),
      restoredMs: after(committed.restoredAtMs),
      commitPointMs: after(committed.commitPointAtMs),
      firstInstructionMs: after(committed.resumedAtMs),
      committedAnswerMs: after(answerAtMs),
      lastPages: tally.pages + tally.zeroPages,
      lastBlocks: tally.blocks,
    };
    const ms = performance.now() - t0;
    this.counts.sendingMs += ms;
    this.record(this.counts.rounds.length, MigrationPhase.MIGRATION_PHASE_STOPCOPY, tally, ms, 0);
    return Math.max(0, committed.resumedAtMs - pausedAtMs);
  }

  /**
   * The device state and the commit (what the destination must hold, and the records it must have
   * had): one record when the destination takes them so, else the state with the commit right
   * behind it, both written before anything is awaited (grpc-js then sends the second message only
   * once the first's write completed, on a later turn of this loop: up to 12 ms later under load).
   */
  private stateAndCommit(
    state: Uint8Array,
    pausedAtMs: number,
    written: { blocks: number[]; checksum: number } | undefined,
  ): Buffer[] {
    const snapshot = Buffer.from(state.buffer, state.byteOffset, state.byteLength);
    const commit = (records: number) => ({
      targetEpoch: this.opts.targetEpoch,
      nonzeroPages: this.ram.nonZeroBlocks,
      nonzeroBlocks: written ? 0 : (this.disk?.nonZeroBlocks ?? 0),
      ramChecksum: this.ram.checksum(),
      diskChecksum: written ? 0 : (this.disk?.checksum() ?? 0),
      records,
      ...(written ? { diskWritten: written } : {}),
    });
    const sent = this.counts.records;
    if (this.commitWithState) {
      return [
        encodeRecord({
          kind: { $case: "deviceState", value: { snapshot, pausedAtMs, commit: commit(sent) } },
        }),
      ];
    }
    return [
      encodeRecord({ kind: { $case: "deviceState", value: { snapshot, pausedAtMs } } }),
      // Counted with the state record, which goes first.
      encodeRecord({ kind: { $case: "commit", value: commit(sent + 1) } }),
    ];
  }

  /** Disk kept in place, guest paused: flush its writes, then sum what the storage holds for them. */
  private diskWritten(): { blocks: number[]; checksum: number } {
    const disk = this.vm.disk!;
    try {
      disk.flush?.();
    } catch (err) {
      throw new SkiffError("MIGRATION_DISK_FLUSH_FAILED", `disk flush: ${errorMessage(err)}`);
    }
    const blocks = sampleBlocks(disk.dirty.fetchAndClear());
    return { blocks, checksum: diskBlocksChecksum(disk.fd, blocks) };
  }

  private report(
    outcome: MigrationEnd,
    started: number,
    downtimeMs: number,
    stopReason: string,
    error?: { code: string; message: string },
  ): MigrationReport {
    return this.counts.report({
      outcome,
      ...(error ? { error } : {}),
      downtimeMs,
      totalMs: performance.now() - started,
      targetEpoch: this.opts.targetEpoch,
      stopReason,
      ...(this.vm.disk ? { diskInPlace: this.diskInPlace } : {}),
      ...(this.stopCopyTimes ? { stopCopy: this.stopCopyTimes } : {}),
    });
  }
}

/** Position of `item` in a batch's block list, starting the search at its likely index. */
function indexIn(order: Uint32Array, item: number, hint: number): number {
  if (order[hint] === item) return hint;
  const i = order.indexOf(item);
  if (i < 0) throw new Error(`block ${item} not in its batch`);
  return i;
}

function readAt(fd: number, buf: Uint8Array, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break; // past the end of the file: the rest stays zero
    done += n;
  }
}
