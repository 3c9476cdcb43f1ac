import { SkiffError } from "@skiff/common";

/** Flattened devicetree format (Devicetree Specification v0.4, chapter 5), version 17. */
export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
const FDT_BEGIN_NODE = 0x1;
const FDT_END_NODE = 0x2;
const FDT_PROP = 0x3;
const FDT_END = 0x9;
const HEADER_SIZE = 40;
const TWO_32 = 2 ** 32;

/** A byte buffer that grows as the blob is written (big-endian cells, 4-byte padding). */
class ByteSink {
  private buf = new Uint8Array(1024);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  u32(v: number): void {
    this.reserve(4);
    this.buf[this.length++] = (v >>> 24) & 0xff;
    this.buf[this.length++] = (v >>> 16) & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = v & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  align4(): void {
    while (this.length % 4 !== 0) this.bytes(Uint8Array.of(0));
  }

  get contents(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function invalid(message: string): never {
  throw new SkiffError("FDT_INVALID", message);
}

function cstring(s: string): Uint8Array {
  if (s.includes("\0")) invalid(`devicetree string contains NUL: ${JSON.stringify(s)}`);
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Splits a 64-bit quantity (a JS integer up to 2^53) into its two big-endian cells. */
export function cells64(v: number): [number, number] {
  if (!Number.isSafeInteger(v) || v < 0) invalid(`not a 64-bit unsigned value: ${v}`);
  return [Math.floor(v / TWO_32) >>> 0, v >>> 0];
}

/**
 * Writes a devicetree blob: nodes are opened and closed in order and properties added to the open
 * node, as the structure block lays them out. Property names go into the strings block once each;
 * phandles are handed out by `allocPhandle` and written as the node's "phandle" property.
 */
export class FdtWriter {
  private readonly structBlock = new ByteSink();
  private readonly stringsBlock = new ByteSink();
  private readonly stringOffsets = new Map<string, number>();
  private readonly reservations: [number, number][] = [];
  private depth = 0;
  private nodesOpened = 0;
  private nextPhandle = 1;

  /** A memory reservation map entry: [address, address + size) is not for the OS to use. */
  addReservation(address: number, size: number): this {
    cells64(address);
    cells64(size);
    this.reservations.push([address, size]);
    return this;
  }

  beginNode(name: string): this {
    if (this.depth === 0 && this.nodesOpened > 0) invalid("only one root node");
    if (this.depth === 0 ? name !== "" : name === "" || name.includes("/"))
      invalid(`bad node name ${JSON.stringify(name)} at depth ${this.depth}`);
    this.structBlock.u32(FDT_BEGIN_NODE);
    this.structBlock.bytes(cstring(name));
    this.structBlock.align4();
    this.depth++;
    this.nodesOpened++;
    return this;
  }

  endNode(): this {
    if (this.depth === 0) invalid("endNode without an open node");
    this.structBlock.u32(FDT_END_NODE);
    this.depth--;
    return this;
  }

  /** A new phandle value (1, 2, ...): give it to a node with `phandle(value)`. */
  allocPhandle(): number {
    return this.nextPhandle++;
  }

  property(name: string, value: Uint8Array): this {
    if (this.depth === 0) invalid(`property ${name} outside a node`);
    if (name === "") invalid("empty property name");
    this.structBlock.u32(FDT_PROP);
    this.structBlock.u32(value.length);
    this.structBlock.u32(this.stringOffset(name));
    this.structBlock.bytes(value);
    this.structBlock.align4();
    return this;
  }

  /** A property with no value (a boolean such as "interrupt-controller"). */
  empty(name: string): this {
    return this.property(name, new Uint8Array(0));
  }

  /** A <u32 ...> cell list. */
  cells(name: string, ...values: number[]): this {
    const out = new Uint8Array(4 * values.length);
    const v = new DataView(out.buffer);
    values.forEach((c, i) => {
      if (!Number.isInteger(c) || c < -(2 ** 31) || c >= TWO_32)
        invalid(`${name}: ${c} is not a 32-bit cell`);
      v.setUint32(4 * i, c >>> 0);
    });
    return this.property(name, out);
  }

  /** 64-bit values, each as two cells (high, low). */
  u64(name: string, ...values: number[]): this {
    return this.cells(name, ...values.flatMap(cells64));
  }

  string(name: string, value: string): this {
    return this.property(name, cstring(value));
  }

  /** A stringlist such as compatible = "sifive,plic-1.0.0", "riscv,plic0". */
  strings(name: string, ...values: string[]): this {
    const parts = values.map(cstring);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return this.property(name, out);
  }

  phandle(value: number): this {
    return this.cells("phandle", value);
  }

  private stringOffset(name: string): number {
    let off = this.stringOffsets.get(name);
    if (off === undefined) {
      off = this.stringsBlock.length;
      this.stringsBlock.bytes(cstring(name));
      this.stringOffsets.set(name, off);
    }
    return off;
  }

  /** The finished blob: header, memory reservation map, structure block, strings block. */
  finish(bootCpuId = 0): Uint8Array {
    if (this.nodesOpened === 0) invalid("devicetree has no root node");
    if (this.depth !== 0) invalid(`${this.depth} node(s) left open`);
    const struct = new ByteSink();
    struct.bytes(this.structBlock.contents);
    struct.u32(FDT_END);
    const rsvOffset = HEADER_SIZE; // 8-byte aligned, as the map must be
    const rsvSize = 16 * (this.reservations.length + 1);
    const structOffset = rsvOffset + rsvSize;
    const stringsOffset = structOffset + struct.length;
    const total = stringsOffset + this.stringsBlock.length;
    const out = new Uint8Array(total);
    const v = new DataView(out.buffer);
    const header = [
      FDT_MAGIC,
      total,
      structOffset,
      stringsOffset,
      rsvOffset,
      FDT_VERSION,
      FDT_LAST_COMP_VERSION,
      bootCpuId,
      this.stringsBlock.length,
      struct.length,
    ];
    for (let i = 0; i < header.length; i++) v.setUint32(4 * i, header[i]! >>> 0);
    this.reservations.forEach(([address, size], i) => {
      const at = rsvOffset + 16 * i;
      const [ah, al] = cells64(address);
      const [sh, sl] = cells64(size);
      v.setUint32(at, ah);
      v.setUint32(at + 4, al);
      v.setUint32(at + 8, sh);
      v.setUint32(at + 12, sl);
    });
    // The terminating (0, 0) entry is already zero.
    out.set(struct.contents, structOffset);
    out.set(this.stringsBlock.contents, stringsOffset);
    return out;
  }
}
