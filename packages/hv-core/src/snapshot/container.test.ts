import { SkiffError } from "@skiff/common";
import { describe, expect, it } from "vitest";
import { Ram } from "../memory/ram.js";
import { ByteWriter } from "./bytes.js";
import { decodeSnapshot, encodeSnapshot, loadRamImage } from "./container.js";
import { crc32, crc32Table } from "./crc32.js";
import type { StateRecord } from "./state.js";
import { decodeState, encodeState } from "./state-codec.js";

const sample: StateRecord = {
  n: 42,
  neg: -7,
  big: 2 ** 40 + 3,
  frac: 0.5,
  s: "héllo",
  t: true,
  f: false,
  z: null,
  bytes: Uint8Array.from([1, 2, 255]),
  words: Int32Array.from([-1, 0, 0x7fffffff]),
  uwords: Uint32Array.from([0xffffffff, 5]),
  list: [1, "a", [2, { deep: Uint8Array.of(9) }]],
  nested: { a: { b: { c: 1 } } },
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SkiffError) return err.code;
    throw err;
  }
  return undefined;
}

describe("state codec", () => {
  it("round-trips every StateValue type exactly", () => {
    const back = decodeState(encodeState(sample));
    expect(back).toEqual(sample);
    const rec = back as StateRecord;
    expect(rec.words).toBeInstanceOf(Int32Array);
    expect(rec.uwords).toBeInstanceOf(Uint32Array);
    expect(rec.bytes).toBeInstanceOf(Uint8Array);
  });

  it("keeps a __proto__ key as data", () => {
    const bytes = encodeState(JSON.parse('{"__proto__": {"polluted": 1}}') as StateRecord);
    const back = decodeState(bytes) as StateRecord;
    expect(Object.keys(back)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("rejects unknown tags, truncation and absurd lengths with a code", () => {
    expect(codeOf(() => decodeState(Uint8Array.of(99)))).toBe("SNAPSHOT_CORRUPT");
    const good = encodeState(sample);
    for (let cut = 0; cut < good.length; cut += 7)
      expect(codeOf(() => decodeState(good.subarray(0, cut)))).toBe("SNAPSHOT_CORRUPT");
    expect(codeOf(() => decodeState(Uint8Array.of(9, 0xff, 0xff, 0xff, 0xff)))).toBe("SNAPSHOT_CORRUPT");
    // nesting bomb: 10k nested lists
    const bomb = new Uint8Array(10_000 * 5 + 1);
    for (let i = 0; i < 10_000; i++) bomb.set([9, 1, 0, 0, 0], i * 5);
    expect(codeOf(() => decodeState(bomb))).toBe("SNAPSHOT_CORRUPT");
  });
});

/** Bytes written by `fill`, followed by their CRC-32 (a hand-made container). */
function sealed(fill: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter();
  fill(w);
  const body = w.finish();
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(body), true);
  return out;
}

describe("snapshot container", () => {
  const ram = new Ram(64 * 4096);
  ram.u8[5] = 1;
  ram.u8[3 * 4096 + 100] = 2;
  ram.u8[4 * 4096] = 3;
  ram.u8[63 * 4096 + 4095] = 4;

  it("round-trips components and RAM, eliding zero pages", () => {
    const snap = encodeSnapshot({
      components: {
        hart: { version: 3, state: sample },
        uart: { version: 1, state: { fifo: Uint8Array.of(1) } },
      },
      ram,
    });
    expect(snap.length).toBeLessThan(5 * 4096 + 1024);
    const back = decodeSnapshot(snap);
    expect(back.formatVersion).toBe(2);
    expect(back.components.hart).toEqual({ version: 3, state: sample });
    expect(back.components.uart?.version).toBe(1);
    expect(back.ram?.runs.map((r) => [r.firstPage, r.data.length / 4096])).toEqual([
      [0, 1],
      [3, 2],
      [63, 1],
    ]);
    const fresh = new Ram(64 * 4096);
    fresh.u8[2 * 4096] = 77; // stale data must be cleared by the load
    loadRamImage(back.ram!, fresh);
    expect(Buffer.compare(fresh.u8, ram.u8)).toBe(0);
    expect(codeOf(() => loadRamImage(back.ram!, new Ram(4096)))).toBe("SNAPSHOT_MISMATCH");
  });

  it("rejects foreign input, other versions and any corrupted byte", () => {
    expect(codeOf(() => decodeSnapshot(new Uint8Array(0)))).toBe("SNAPSHOT_FOREIGN");
    expect(codeOf(() => decodeSnapshot(new TextEncoder().encode("PK\x03\x04 not a snapshot at all")))).toBe(
      "SNAPSHOT_FOREIGN",
    );
    const snap = encodeSnapshot({ components: { a: { version: 1, state: { x: 1 } } }, ram });
    const v3 = snap.slice();
    v3[8] = 3;
    expect(codeOf(() => decodeSnapshot(v3))).toBe("SNAPSHOT_VERSION");
    for (let i = 10; i < snap.length; i += 97) {
      const bad = snap.slice();
      bad[i] ^= 0x40;
      expect(codeOf(() => decodeSnapshot(bad))).toBe("SNAPSHOT_CHECKSUM");
    }
    expect(codeOf(() => decodeSnapshot(snap.subarray(0, snap.length - 9)))).toMatch(/SNAPSHOT_/);
  });

  it("rejects structurally broken input even with a valid checksum", () => {
    const snap = encodeSnapshot({ components: { a: { version: 1, state: { x: 1 } } } });
    const body = snap.slice(0, snap.length - 4);
    body[12] = 5; // claims 5 sections, holds 1
    const resealed = new Uint8Array(body.length + 4);
    resealed.set(body);
    new DataView(resealed.buffer).setUint32(body.length, crc32(body), true);
    expect(codeOf(() => decodeSnapshot(resealed))).toBe("SNAPSHOT_CORRUPT");
  });

  it("reads format 1 (sections without a version) as version 1 of every component", () => {
    const v1 = sealed((w) => {
      for (const c of "SKIFFSNP") w.u8(c.charCodeAt(0));
      w.u16(1);
      w.u16(0);
      w.u32(1);
      const body = encodeState({ x: 7 });
      w.u8(1);
      w.string("clint");
      w.u32(body.length);
      w.bytes(body);
    });
    const back = decodeSnapshot(v1);
    expect(back.formatVersion).toBe(1);
    expect(back.components).toEqual({ clint: { version: 1, state: { x: 7 } } });
    // ...but an unversioned section in a format-2 snapshot is not accepted.
    const mixed = v1.slice(0, v1.length - 4);
    mixed[8] = 2;
    expect(codeOf(() => decodeSnapshot(sealed((w) => w.bytes(mixed))))).toBe("SNAPSHOT_CORRUPT");
  });

  it("crc32 matches the standard check value, and the table fallback zlib's sum", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32Table(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    const bytes = Uint8Array.from({ length: 4099 }, (_, i) => (i * 2654435761) >>> 24);
    for (const [from, to, seed] of [
      [0, 4099, 0],
      [3, 1001, 0],
      [5, 77, 0x12345678],
    ] as const) {
      expect(crc32Table(bytes.subarray(from, to), seed)).toBe(crc32(bytes.subarray(from, to), seed));
    }
  });
});
