/**
 * A snapshot file read for a restore from suspend: the state sections into memory, the RAM runs
 * straight from the file into guest RAM (no second copy of the image; RAM between the runs is
 * left untouched when it is known zero), those reads on libuv's threads so that the caller's
 * thread can build and warm its machine meanwhile. The container decodeSnapshot reads, every
 * readable format version, and the same CRC-32 over every byte, checked before the caller restores
 * any state from it.
 */
import { closeSync, fstatSync, openSync, read } from "node:fs";
import { SkiffError } from "@skiff/common";
import { readAt } from "../file-read.js";
import { PAGE_SIZE, type Ram } from "../memory/ram.js";
import { ByteReader } from "./bytes.js";
import {
  addStateSection,
  checkRun,
  clearNonZero,
  corrupt,
  HEADER_BYTES,
  isRamSection,
  readHeader,
  readRamHeader,
} from "./container.js";
import { crc32 } from "./crc32.js";
import type { VersionedState } from "./state.js";

interface RamRun {
  readonly firstPage: number;
  readonly pages: number;
  /** Where its data sits in the file. */
  readonly at: number;
}

/** A snapshot file opened for a restore: its state sections read, its RAM not yet. */
export class SnapshotFile {
  readonly components: Record<string, VersionedState> = {};
  private readonly fd: number;
  private readonly end: number;
  private pos = 0;
  /** What the CRC covers, in file order: bytes read here, or a run (read into guest RAM). */
  private readonly summed: (Uint8Array | RamRun)[] = [];
  private ram: { pages: number; runs: RamRun[] } | undefined;
  private closed = false;

  constructor(path: string) {
    this.fd = openSync(path, "r");
    try {
      const size = fstatSync(this.fd).size;
      if (size < HEADER_BYTES + 4)
        throw new SkiffError("SNAPSHOT_FOREIGN", "not a Skiff snapshot (bad magic)");
      this.end = size - 4;
      const head = new ByteReader(this.take(HEADER_BYTES));
      const formatVersion = readHeader(head);
      head.u16();
      const count = head.u32();
      for (let i = 0; i < count; i++) {
        const kind = this.take(1)[0]!;
        const nameLength = this.take(4);
        const name = new ByteReader(Buffer.concat([nameLength, this.take(u32At(nameLength))])).string();
        const length = u32At(this.take(4));
        if (length > this.end - this.pos) corrupt(`section ${name} runs past the end`);
        if (isRamSection(kind)) {
          if (this.ram) corrupt("duplicate RAM section");
          this.readRamLayout(this.pos + length);
        } else {
          addStateSection(this.components, formatVersion, kind, name, new ByteReader(this.take(length)));
        }
      }
      if (this.pos !== this.end) corrupt("trailing bytes after sections");
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Whether the snapshot holds RAM. */
  get hasRam(): boolean {
    return this.ram !== undefined;
  }

  /**
   * Reads the RAM runs into `ram` (off this thread: the caller may work until it awaits) and checks
   * the whole file's CRC-32. `ramIsZero`: nothing has written `ram` yet, so the pages between the
   * runs are not looked at (a look faults each page in: seconds for a fresh 256 MiB under load).
   */
  async loadRam(ram: Ram, ramIsZero: boolean): Promise<void> {
    try {
      const image = this.ram;
      if (image) {
        if (image.pages * PAGE_SIZE !== ram.size) {
          throw new SkiffError(
            "SNAPSHOT_MISMATCH",
            `snapshot RAM is ${image.pages * PAGE_SIZE} bytes, machine has ${ram.size}`,
          );
        }
        if (!ramIsZero) clearGaps(ram.u8, image.runs);
        await Promise.all(
          image.runs.map((r) =>
            readFully(this.fd, ram.u8, r.firstPage * PAGE_SIZE, r.pages * PAGE_SIZE, r.at),
          ),
        );
      }
      this.checkCrc(ram);
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private checkCrc(ram: Ram): void {
    const trailer = Buffer.alloc(4);
    readSnapshotAt(this.fd, trailer, 0, 4, this.end);
    let c = 0;
    for (const s of this.summed) {
      c =
        s instanceof Uint8Array
          ? crc32(s, c)
          : crc32(ram.u8.subarray(s.firstPage * PAGE_SIZE, (s.firstPage + s.pages) * PAGE_SIZE), c);
    }
    if (trailer.readUInt32LE(0) !== c)
      throw new SkiffError("SNAPSHOT_CHECKSUM", "snapshot checksum mismatch");
  }

  /** The RAM section's header and run headers (each run's data is skipped: loadRam reads it). */
  private readRamLayout(sectionEnd: number): void {
    const { pages, runCount } = readRamHeader(new ByteReader(this.take(12)));
    const runs: RamRun[] = [];
    let next = 0;
    for (let i = 0; i < runCount; i++) {
      const h = new ByteReader(this.take(8));
      const first = h.u32();
      const count = h.u32();
      checkRun(first, count, next, pages);
      if (count * PAGE_SIZE > sectionEnd - this.pos) corrupt("RAM run runs past its section");
      const run = { firstPage: first, pages: count, at: this.pos };
      runs.push(run);
      this.summed.push(run);
      this.pos += count * PAGE_SIZE;
      next = first + count;
    }
    if (this.pos !== sectionEnd) corrupt("trailing bytes in section ram");
    this.ram = { pages, runs };
  }

  /** The next `n` bytes of the file (summed). */
  private take(n: number): Uint8Array {
    if (n > this.end - this.pos) corrupt(`truncated: need ${n} bytes at offset ${this.pos}`);
    const b = Buffer.allocUnsafe(n);
    readSnapshotAt(this.fd, b, 0, n, this.pos);
    this.pos += n;
    this.summed.push(b);
    return b;
  }
}

function u32At(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}

/** Zeroes what is not zero between the runs (RAM that may hold an earlier guest's bytes). */
function clearGaps(u8: Uint8Array, runs: readonly RamRun[]): void {
  let from = 0;
  for (const r of runs) {
    clearNonZero(u8.subarray(from, r.firstPage * PAGE_SIZE));
    from = (r.firstPage + r.pages) * PAGE_SIZE;
  }
  clearNonZero(u8.subarray(from));
}

function readSnapshotAt(fd: number, buf: Uint8Array, offset: number, length: number, position: number): void {
  if (readAt(fd, buf, offset, length, position) < length) corrupt("truncated snapshot file");
}

/** readSnapshotAt on libuv's thread pool. */
async function readFully(fd: number, buf: Uint8Array, offset: number, length: number, position: number) {
  let done = 0;
  while (done < length) {
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, buf, offset + done, length - done, position + done, (err, bytes) =>
        err ? reject(err) : resolve(bytes),
      ),
    );
    if (n === 0) corrupt("truncated snapshot file");
    done += n;
  }
}
