/**
 * Encoding of stream records. Page and disk batches carry almost all the bytes, so they have a
 * hand-written encoder that copies guest pages straight into the outgoing message, and a decoder
 * that hands out views into the received message instead of copies. Both produce and read the
 * exact protobuf wire format of MigrationRecord (tests check them against ts-proto's codec), so
 * any protobuf implementation can talk to them. Everything else goes through ts-proto.
 */
import { type Compression, MigrationRecord } from "@skiff/proto";
import { MAX_RECORD_BYTES, MigrationErrorCode, migrationError } from "./format.js";

/** MigrationRecord oneof field numbers of the batch records. */
const FIELD_PAGES = 2;
const FIELD_DISK = 3;
const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;
/**
 * grpc-js hands a received message to the deserializer as a view 5 bytes (its frame header) into
 * an 8-byte aligned buffer; data at 3 (mod 8) within the record is then 8-byte aligned in memory.
 */
const FRAME_HEADER = 5;
const RECORD_DATA_ALIGN = 3;

export type BatchKind = "pages" | "disk";

/** A decoded page or disk batch; `data` is a view into the received message. */
export interface Batch {
  round: number;
  items: number[];
  zeroItems: number[];
  data: Uint8Array;
  compression: Compression;
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

function packedSize(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) n += varintSize(values[i]!);
  return n;
}

/**
 * A batch record under construction: the header is written, `data` (the batch's payload area of
 * the final message) is for the caller to fill, and `message` is what goes on the wire.
 */
export interface BatchMessage {
  readonly message: Buffer;
  readonly data: Buffer;
}

export function allocBatch(
  kind: BatchKind,
  round: number,
  items: ArrayLike<number>,
  zeroItems: ArrayLike<number>,
  dataLength: number,
  compression: Compression,
): BatchMessage {
  const itemsBytes = packedSize(items);
  const zeroBytes = packedSize(zeroItems);
  let fixed = 0;
  if (round !== 0) fixed += 1 + varintSize(round);
  if (items.length > 0) fixed += 1 + varintSize(itemsBytes) + itemsBytes;
  if (zeroItems.length > 0) fixed += 1 + varintSize(zeroBytes) + zeroBytes;
  if (compression !== 0) fixed += 1 + varintSize(compression);
  const dataField = 1 + varintSize(dataLength) + dataLength;
  // Pick the padding that puts `data` at RECORD_DATA_ALIGN (mod 8) within the record.
  let pad = 0;
  let inner = 0;
  for (; pad < 8; pad++) {
    inner = fixed + 2 + pad + dataField;
    const dataAt = 1 + varintSize(inner) + fixed + 2 + pad + 1 + varintSize(dataLength);
    if (dataAt % 8 === RECORD_DATA_ALIGN) break;
  }
  if (pad === 8) {
    pad = 0;
    inner = fixed + 2 + dataField;
  }
  const total = 1 + varintSize(inner) + inner;
  // The record sits FRAME_HEADER bytes into its buffer, as a received one does in grpc-js's.
  const buf = Buffer.allocUnsafe(total + FRAME_HEADER).subarray(FRAME_HEADER);
  let p = 0;
  buf[p++] = ((kind === "pages" ? FIELD_PAGES : FIELD_DISK) << 3) | WT_LEN;
  p = writeVarint(buf, p, inner);
  if (round !== 0) {
    buf[p++] = (1 << 3) | WT_VARINT;
    p = writeVarint(buf, p, round);
  }
  if (items.length > 0) {
    buf[p++] = (2 << 3) | WT_LEN;
    p = writeVarint(buf, p, itemsBytes);
    for (let i = 0; i < items.length; i++) p = writeVarint(buf, p, items[i]!);
  }
  if (zeroItems.length > 0) {
    buf[p++] = (3 << 3) | WT_LEN;
    p = writeVarint(buf, p, zeroBytes);
    for (let i = 0; i < zeroItems.length; i++) p = writeVarint(buf, p, zeroItems[i]!);
  }
  // Fields in number order, as protobuf encoders write them: the bytes match theirs exactly.
  if (compression !== 0) {
    buf[p++] = (5 << 3) | WT_VARINT;
    p = writeVarint(buf, p, compression);
  }
  buf[p++] = (6 << 3) | WT_LEN;
  buf[p++] = pad;
  buf.fill(0, p, p + pad);
  p += pad;
  buf[p++] = (7 << 3) | WT_LEN;
  p = writeVarint(buf, p, dataLength);
  return { message: buf, data: buf.subarray(p, p + dataLength) };
}

/** Any record through the generic (ts-proto) encoder. */
export function encodeRecord(record: MigrationRecord): Buffer {
  const bytes = MigrationRecord.encode(record).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw malformed("truncated varint");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw malformed("varint out of range");
        return result;
      }
      mul *= 128;
    }
    throw malformed("varint too long");
  }

  len(): number {
    const n = this.varint();
    if (n > this.end - this.pos) throw malformed("length past the end of the record");
    return n;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WT_VARINT:
        this.varint();
        return;
      case WT_I64:
        this.advance(8);
        return;
      case WT_LEN:
        this.advance(this.len());
        return;
      case WT_I32:
        this.advance(4);
        return;
      default:
        throw malformed(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw malformed("truncated field");
    this.pos += n;
  }
}

function malformed(message: string) {
  return migrationError(MigrationErrorCode.PROTOCOL, `malformed record: ${message}`);
}

function readUint32s(r: Reader, wireType: number, out: number[]): void {
  if (wireType === WT_LEN) {
    const n = r.len();
    const end = r.pos + n;
    const inner = new Reader(r.buf, r.pos, end);
    while (inner.pos < end) out.push(u32(inner.varint()));
    r.pos = end;
  } else if (wireType === WT_VARINT) {
    out.push(u32(r.varint()));
  } else {
    throw malformed("index list with a bad wire type");
  }
}

function u32(v: number): number {
  // uint32 fields keep the low 32 bits of a larger varint, as protobuf parsers do.
  return v % 2 ** 32;
}

function decodeBatch(buf: Uint8Array, start: number, end: number): Batch {
  const r = new Reader(buf, start, end);
  const batch: Batch = { round: 0, items: [], zeroItems: [], data: new Uint8Array(0), compression: 0 };
  while (r.pos < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (field === 1 && wt === WT_VARINT) batch.round = u32(r.varint());
    else if (field === 2) readUint32s(r, wt, batch.items);
    else if (field === 3) readUint32s(r, wt, batch.zeroItems);
    else if (field === 7 && wt === WT_LEN) {
      const n = r.len();
      batch.data = buf.subarray(r.pos, r.pos + n);
      r.pos += n;
    } else if (field === 5 && wt === WT_VARINT) batch.compression = u32(r.varint()) as Compression;
    else r.skip(wt);
  }
  return batch;
}

/** A decoded record: batches as views (`Batch`), everything else as ts-proto messages. */
export type DecodedRecord =
  | { kind: "pages"; batch: Batch }
  | { kind: "disk"; batch: Batch }
  | { kind: "other"; record: MigrationRecord };

/** Decodes one received record; malformed input is a MIGRATION_PROTOCOL error. */
export function decodeRecord(buf: Uint8Array): DecodedRecord {
  if (buf.length > MAX_RECORD_BYTES) throw malformed(`record of ${buf.length} bytes is too large`);
  const r = new Reader(buf, 0, buf.length);
  if (buf.length > 0) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    if ((field === FIELD_PAGES || field === FIELD_DISK) && (tag & 7) === WT_LEN) {
      const n = r.len();
      // The fast path covers a record that is exactly one batch (what every encoder sends).
      if (r.pos + n === buf.length) {
        const batch = decodeBatch(buf, r.pos, r.pos + n);
        return field === FIELD_PAGES ? { kind: "pages", batch } : { kind: "disk", batch };
      }
    }
  }
  let record: MigrationRecord;
  try {
    record = MigrationRecord.decode(buf);
  } catch (err) {
    throw malformed((err as Error).message);
  }
  const k = record.kind;
  if (k?.$case === "pages") {
    const v = k.value;
    return {
      kind: "pages",
      batch: {
        round: v.round,
        items: v.pages,
        zeroItems: v.zeroPages,
        data: v.data,
        compression: v.compression,
      },
    };
  }
  if (k?.$case === "disk") {
    const v = k.value;
    return {
      kind: "disk",
      batch: {
        round: v.round,
        items: v.blocks,
        zeroItems: v.zeroBlocks,
        data: v.data,
        compression: v.compression,
      },
    };
  }
  return { kind: "other", record };
}
