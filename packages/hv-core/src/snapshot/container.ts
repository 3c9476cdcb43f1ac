import { SkiffError } from "@skiff/common";
import { PAGE_SIZE, type Ram } from "../memory/ram.js";
import { ByteReader, ByteWriter } from "./bytes.js";
import { crc32 } from "./crc32.js";
import type { VersionedState } from "./state.js";
import { readStateValue, writeStateValue } from "./state-codec.js";

/**
 * The snapshot container (suspend-to-disk, migration stop-and-copy):
 *
 *   magic "SKIFFSNP" | u16 format version | u16 reserved | u32 section count
 *   section*: u8 kind | string name | u32 payload length | payload
 *   u32 CRC-32 of everything before it
 *
 * Kinds: 3 = a component's state (u16 state version, then a tagged StateValue tree), 2 = RAM as
 * runs of non-zero pages. Format 1 had kind 1 (a state without a version): it is still read, as
 * version 1 of every component. The format version is independent of the release and of the
 * components' state versions; a reader refuses format versions it doesn't know.
 */
export const SNAPSHOT_MAGIC = "SKIFFSNP";
export const SNAPSHOT_FORMAT_VERSION = 2;
const READABLE_FORMATS = [1, 2];

const enum SectionKind {
  UnversionedState = 1,
  Ram = 2,
  State = 3,
}

export interface SnapshotContents {
  /** Named component states with their versions, e.g. { machine, hart, clint, plic, uart, virtio0 }. */
  components: Record<string, VersionedState>;
  /** Guest RAM (omitted in device-state-only snapshots; migration sends RAM separately). */
  ram?: Ram;
}

/** RAM as stored: its size and the runs of non-zero pages (views into the snapshot bytes). */
export interface RamImage {
  size: number;
  runs: { firstPage: number; data: Uint8Array }[];
}

export interface DecodedSnapshot {
  formatVersion: number;
  components: Record<string, VersionedState>;
  ram?: RamImage;
}

export function corrupt(message: string, details?: Record<string, unknown>): never {
  throw new SkiffError("SNAPSHOT_CORRUPT", message, details);
}

function writeRam(w: ByteWriter, ram: Ram): void {
  const pages = ram.pages;
  const runs: [number, number][] = [];
  for (let p = 0; p < pages; ) {
    if (ram.isZeroPage(p)) {
      p++;
      continue;
    }
    const first = p;
    while (p < pages && !ram.isZeroPage(p)) p++;
    runs.push([first, p - first]);
  }
  w.u32(PAGE_SIZE);
  w.u32(pages);
  w.u32(runs.length);
  for (const [first, count] of runs) {
    w.u32(first);
    w.u32(count);
    w.bytes(ram.u8.subarray(first * PAGE_SIZE, (first + count) * PAGE_SIZE));
  }
}

function readRam(r: ByteReader): RamImage {
  const { pages, runCount } = readRamHeader(r);
  const runs: RamImage["runs"] = [];
  let next = 0;
  for (let i = 0; i < runCount; i++) {
    const first = r.u32();
    const count = r.u32();
    checkRun(first, count, next, pages);
    runs.push({ firstPage: first, data: r.bytes(count * PAGE_SIZE) });
    next = first + count;
  }
  return { size: pages * PAGE_SIZE, runs };
}

/** Checks the fixed header (magic, format version); returns the format version. */
export function readHeader(r: ByteReader): number {
  let magic = r.remaining >= HEADER_BYTES;
  for (let i = 0; i < SNAPSHOT_MAGIC.length && magic; i++) magic = r.data[i] === SNAPSHOT_MAGIC.charCodeAt(i);
  if (!magic) throw new SkiffError("SNAPSHOT_FOREIGN", "not a Skiff snapshot (bad magic)");
  r.bytes(SNAPSHOT_MAGIC.length);
  const formatVersion = r.u16();
  if (!READABLE_FORMATS.includes(formatVersion)) {
    throw new SkiffError(
      "SNAPSHOT_VERSION",
      `snapshot format version ${formatVersion} is not supported (this build reads ${READABLE_FORMATS.join(", ")})`,
    );
  }
  return formatVersion;
}

/** Bytes before the first section: magic, format version, reserved, section count. */
export const HEADER_BYTES = SNAPSHOT_MAGIC.length + 8;

/** Whether a section of `kind` is the RAM image (else a component's state). */
export function isRamSection(kind: number): boolean {
  return kind === SectionKind.Ram;
}

/** Adds a component's state section to `components`; any other kind is corrupt. */
export function addStateSection(
  components: Record<string, VersionedState>,
  formatVersion: number,
  kind: number,
  name: string,
  body: ByteReader,
): void {
  const stateKind = formatVersion === 1 ? SectionKind.UnversionedState : SectionKind.State;
  if (kind !== stateKind) corrupt(`unknown section kind ${kind}`);
  const version = kind === SectionKind.State ? body.u16() : 1;
  const v = readStateValue(body);
  if (v === null || typeof v !== "object" || Array.isArray(v) || ArrayBuffer.isView(v))
    corrupt(`section ${name} is not a record`);
  if (Object.hasOwn(components, name)) corrupt(`duplicate section ${name}`);
  const section: VersionedState = { version, state: v };
  Object.defineProperty(components, name, {
    value: section,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  if (body.remaining !== 0) corrupt(`trailing bytes in section ${name}`);
}

/** The RAM section's own header: page size (checked) and page count, then the run count. */
export function readRamHeader(r: ByteReader): { pages: number; runCount: number } {
  const pageSize = r.u32();
  if (pageSize !== PAGE_SIZE) corrupt(`RAM page size ${pageSize}, expected ${PAGE_SIZE}`);
  return { pages: r.u32(), runCount: r.u32() };
}

/** Checks a run's place: after the previous one (`next`), non-empty, inside RAM. */
export function checkRun(first: number, count: number, next: number, pages: number): void {
  if (first < next || count === 0 || first + count > pages) corrupt("RAM page runs out of order or range");
}

export function encodeSnapshot(contents: SnapshotContents): Uint8Array {
  const w = new ByteWriter();
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) w.u8(SNAPSHOT_MAGIC.charCodeAt(i));
  w.u16(SNAPSHOT_FORMAT_VERSION);
  w.u16(0);
  const names = Object.keys(contents.components);
  w.u32(names.length + (contents.ram ? 1 : 0));
  for (const name of names) {
    const section = contents.components[name]!;
    const body = new ByteWriter();
    body.u16(section.version);
    writeStateValue(body, section.state);
    const bytes = body.finish();
    w.u8(SectionKind.State);
    w.string(name);
    w.u32(bytes.length);
    w.bytes(bytes);
  }
  if (contents.ram) {
    const body = new ByteWriter();
    writeRam(body, contents.ram);
    w.u8(SectionKind.Ram);
    w.string("ram");
    w.u32(body.length);
    w.bytes(body.finish());
  }
  const out = w.finish();
  const withCrc = new Uint8Array(out.length + 4);
  withCrc.set(out);
  new DataView(withCrc.buffer).setUint32(out.length, crc32(out), true);
  return withCrc;
}

/** Decodes and verifies a snapshot; corrupt, truncated or foreign input is a coded SkiffError. */
export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  if (!(bytes instanceof Uint8Array)) throw new SkiffError("SNAPSHOT_FOREIGN", "snapshot must be bytes");
  if (bytes.length < 20) throw new SkiffError("SNAPSHOT_FOREIGN", "not a Skiff snapshot (bad magic)");
  const r = new ByteReader(bytes.subarray(0, bytes.length - 4));
  const formatVersion = readHeader(r);
  const stored = new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) throw new SkiffError("SNAPSHOT_CHECKSUM", "snapshot checksum mismatch");
  r.u16();
  const count = r.u32();
  const components: Record<string, VersionedState> = {};
  let ram: RamImage | undefined;
  for (let i = 0; i < count; i++) {
    const kind = r.u8();
    const name = r.string();
    const len = r.u32();
    const body = new ByteReader(r.bytes(len));
    if (kind === SectionKind.Ram) {
      if (ram) corrupt("duplicate RAM section");
      ram = readRam(body);
      if (body.remaining !== 0) corrupt(`trailing bytes in section ${name}`);
    } else {
      addStateSection(components, formatVersion, kind, name, body);
    }
  }
  if (r.remaining !== 0) corrupt("trailing bytes after sections");
  return ram ? { formatVersion, components, ram } : { formatVersion, components };
}

/** Loads a RAM image into `ram` (sizes must match): zero everywhere, then the stored runs. */
export function loadRamImage(image: RamImage, ram: Ram): void {
  if (image.size !== ram.size)
    throw new SkiffError("SNAPSHOT_MISMATCH", `snapshot RAM is ${image.size} bytes, machine has ${ram.size}`);
  clearNonZero(ram.u8);
  for (const run of image.runs) ram.u8.set(run.data, run.firstPage * PAGE_SIZE);
}

const ZERO_CHUNK = new Uint8Array(1 << 20);

/**
 * Zeroes what is not zero yet, looking a megabyte at a time (native compare): a fresh buffer (a
 * restore into a new VMM) is only read, so it stays unresident, and fast: filling all of a
 * 256 MiB guest's RAM cost the restore ~100 ms and 256 MiB of RSS.
 */
export function clearNonZero(u8: Uint8Array): void {
  for (let off = 0; off < u8.length; off += ZERO_CHUNK.length) {
    const end = Math.min(u8.length, off + ZERO_CHUNK.length);
    const chunk = u8.subarray(off, end);
    if (Buffer.compare(chunk, ZERO_CHUNK.subarray(0, end - off)) !== 0) chunk.fill(0);
  }
}
