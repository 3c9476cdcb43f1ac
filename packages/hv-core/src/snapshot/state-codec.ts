import { SkiffError } from "@skiff/common";
import { ByteReader, ByteWriter } from "./bytes.js";
import type { StateRecord, StateValue } from "./state.js";

/**
 * Typed, tagged encoding of StateValue trees: every value carries its type, every record its keys,
 * so a snapshot can be read (and checked) without knowing which components wrote it.
 */
const enum Tag {
  Null = 0,
  False = 1,
  True = 2,
  Int32 = 3,
  Float64 = 4,
  String = 5,
  Bytes = 6,
  Int32Words = 7,
  Uint32Words = 8,
  List = 9,
  Record = 10,
}

/** Deeper nesting than any component writes; bounds decoder recursion on hostile input. */
const MAX_DEPTH = 64;

export function writeStateValue(w: ByteWriter, v: StateValue, depth = 0): void {
  if (depth > MAX_DEPTH) throw new SkiffError("SNAPSHOT_STATE_INVALID", "state nested too deeply");
  if (v === null) {
    w.u8(Tag.Null);
    return;
  }
  switch (typeof v) {
    case "boolean":
      w.u8(v ? Tag.True : Tag.False);
      return;
    case "number":
      if ((v | 0) === v && !Object.is(v, -0)) {
        w.u8(Tag.Int32);
        w.i32(v);
        return;
      }
      w.u8(Tag.Float64);
      w.f64(v);
      return;
    case "string":
      w.u8(Tag.String);
      w.string(v);
      return;
  }
  if (v instanceof Uint8Array) {
    w.u8(Tag.Bytes);
    w.u32(v.length);
    w.bytes(v);
    return;
  }
  if (v instanceof Int32Array || v instanceof Uint32Array) {
    w.u8(v instanceof Int32Array ? Tag.Int32Words : Tag.Uint32Words);
    w.u32(v.length);
    for (let i = 0; i < v.length; i++) w.u32(v[i]!);
    return;
  }
  if (Array.isArray(v)) {
    w.u8(Tag.List);
    w.u32(v.length);
    for (const item of v) writeStateValue(w, item, depth + 1);
    return;
  }
  if (typeof v === "object") {
    const keys = Object.keys(v);
    w.u8(Tag.Record);
    w.u32(keys.length);
    for (const k of keys) {
      w.string(k);
      writeStateValue(w, (v as StateRecord)[k]!, depth + 1);
    }
    return;
  }
  throw new SkiffError("SNAPSHOT_STATE_INVALID", `cannot encode a ${typeof v} in a snapshot`);
}

export function readStateValue(r: ByteReader, depth = 0): StateValue {
  if (depth > MAX_DEPTH) r.fail("state nested too deeply");
  const tag = r.u8();
  switch (tag) {
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Int32:
      return r.i32();
    case Tag.Float64:
      return r.f64();
    case Tag.String:
      return r.string();
    case Tag.Bytes:
      return r.bytes(r.u32()).slice();
    case Tag.Int32Words:
    case Tag.Uint32Words: {
      const n = r.u32();
      r.need(n * 4);
      const out = tag === Tag.Int32Words ? new Int32Array(n) : new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = r.u32();
      return out;
    }
    case Tag.List: {
      const n = r.u32();
      r.need(n); // every item takes at least its tag byte
      const out: StateValue[] = [];
      for (let i = 0; i < n; i++) out.push(readStateValue(r, depth + 1));
      return out;
    }
    case Tag.Record: {
      const n = r.u32();
      r.need(n * 5);
      const out: StateRecord = {};
      for (let i = 0; i < n; i++) {
        const key = r.string();
        // defineProperty: a key named "__proto__" stays plain data.
        Object.defineProperty(out, key, {
          value: readStateValue(r, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    default:
      return r.fail(`unknown state tag ${tag}`);
  }
}

export function encodeState(v: StateValue): Uint8Array {
  const w = new ByteWriter();
  writeStateValue(w, v);
  return w.finish();
}

export function decodeState(bytes: Uint8Array): StateValue {
  const r = new ByteReader(bytes);
  const v = readStateValue(r);
  if (r.remaining !== 0) r.fail("trailing bytes after state");
  return v;
}
