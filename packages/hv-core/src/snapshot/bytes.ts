import { SkiffError } from "@skiff/common";

/**
 * Shared coders, and short ASCII strings (every state key, most values) copied byte by byte: a
 * coder made per string cost more than the rest of a device-state snapshot, which a live
 * migration takes and restores inside its pause.
 */
const encoder = new TextEncoder();
const utf8 = new TextDecoder("utf-8", { fatal: true });
const SHORT = 64;

function isShortAscii(s: string): boolean {
  if (s.length > SHORT) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Little-endian byte writer that grows by chunks (large RAM images are appended without copying). */
export class ByteWriter {
  private readonly chunks: Uint8Array[] = [];
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  private pos = 0;
  private flushed = 0;

  get length(): number {
    return this.flushed + this.pos;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flushBuffer();
    if (n > this.buf.length) {
      this.buf = new Uint8Array(Math.max(n, 4096));
      this.view = new DataView(this.buf.buffer);
    }
  }

  private flushBuffer(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.slice(0, this.pos));
    this.flushed += this.pos;
    this.pos = 0;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.room(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.view.setInt32(this.pos, v, true);
    this.pos += 4;
  }
  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
  /** Appends a copy of `data` (callers may pass views of live memory). */
  bytes(data: Uint8Array): void {
    if (data.length <= 1024) {
      this.room(data.length);
      this.buf.set(data, this.pos);
      this.pos += data.length;
      return;
    }
    this.flushBuffer();
    this.chunks.push(data.slice());
    this.flushed += data.length;
  }
  string(s: string): void {
    if (isShortAscii(s)) {
      this.u32(s.length);
      this.room(s.length);
      for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
      return;
    }
    const b = encoder.encode(s);
    this.u32(b.length);
    this.bytes(b);
  }

  finish(): Uint8Array {
    this.flushBuffer();
    const out = new Uint8Array(this.flushed);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** Bounds-checked little-endian reader: running past the end is a coded error, never a RangeError. */
export class ByteReader {
  private readonly view: DataView;
  pos = 0;

  constructor(
    readonly data: Uint8Array,
    private readonly errorCode = "SNAPSHOT_CORRUPT",
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  fail(message: string): never {
    throw new SkiffError(this.errorCode, message, { offset: this.pos });
  }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.data.length)
      this.fail(`truncated: need ${n} bytes at offset ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.data[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A view into the input (no copy). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  string(): string {
    const b = this.bytes(this.u32());
    if (b.length <= SHORT) {
      let s = "";
      for (let i = 0; i < b.length && b[i]! <= 0x7f; i++) s += String.fromCharCode(b[i]!);
      if (s.length === b.length) return s;
    }
    try {
      return utf8.decode(b);
    } catch (err) {
      if (err instanceof SkiffError) throw err;
      return this.fail("invalid UTF-8 in string");
    }
  }
}
