import { Compression, MigrationRecord } from "@skiff/proto";
import { describe, expect, it } from "vitest";
import { allocBatch, decodeRecord, encodeRecord } from "./codec.js";
import { MigrationErrorCode } from "./format.js";

function pagesOf(n: number, seed: number): Uint8Array {
  const data = new Uint8Array(n * 4096);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed) & 0xff;
  return data;
}

describe("stream codec", () => {
  it("writes page batches in the exact protobuf wire format of MigrationRecord", () => {
    const items = [0, 1, 127, 128, 16_383, 16_384, 2 ** 32 - 1];
    const zeros = [5, 300_000];
    const data = pagesOf(items.length, 3);
    for (const [kind, round, compression] of [
      ["pages", 0, Compression.COMPRESSION_NONE],
      ["disk", 7, Compression.COMPRESSION_DEFLATE],
    ] as const) {
      const msg = allocBatch(kind, round, items, zeros, data.length, compression);
      msg.data.set(data);
      const viaProto = MigrationRecord.decode(msg.message);
      const value =
        kind === "pages"
          ? { round, pages: items, zeroPages: zeros, data: Buffer.from(data), compression }
          : { round, blocks: items, zeroBlocks: zeros, data: Buffer.from(data), compression };
      expect(viaProto).toEqual({ kind: { $case: kind, value } });
      // ...and ts-proto's own encoding is byte for byte the same.
      expect(Buffer.compare(encodeRecord(viaProto), msg.message)).toBe(0);
      const back = decodeRecord(msg.message);
      expect(back.kind).toBe(kind);
      if (back.kind === "other") throw new Error("fast path not taken");
      expect(back.batch.round).toBe(round);
      expect(back.batch.items).toEqual(items);
      expect(back.batch.zeroItems).toEqual(zeros);
      expect(back.batch.compression).toBe(compression);
      expect(Buffer.compare(Buffer.from(back.batch.data), Buffer.from(data))).toBe(0);
      // A view into the message, not a copy.
      expect(back.batch.data.buffer).toBe(msg.message.buffer);
    }
  });

  it("reads batches written by ts-proto (unpacked lists and unknown fields too)", () => {
    const rec = encodeRecord({
      kind: {
        $case: "pages",
        value: { round: 3, pages: [9, 10], zeroPages: [], data: Buffer.from(pagesOf(2, 1)), compression: 0 },
      },
    });
    const back = decodeRecord(rec);
    expect(back.kind === "pages" && back.batch.items).toEqual([9, 10]);
    // Field 9 (varint) inside the batch, then pages 11 as an unpacked varint: still readable.
    const inner = Buffer.from([0x08, 0x01, 0x48, 0x05, 0x10, 0x0b, 0x22, 0x00]);
    const outer = Buffer.concat([Buffer.from([0x12, inner.length]), inner]);
    const odd = decodeRecord(outer);
    expect(odd.kind === "pages" && odd.batch.items).toEqual([11]);
    expect(odd.kind === "pages" && odd.batch.round).toBe(1);
  });

  it("round-trips the other records through ts-proto", () => {
    const hello = {
      formatVersion: 1,
      migrationId: "m1",
      vmId: "vm",
      sourceEpoch: 3,
      targetEpoch: 4,
      token: "t",
      memoryBytes: 1 << 26,
      pageSize: 4096,
      diskBytes: 8 << 20,
      diskBlockSize: 4096,
    };
    const back = decodeRecord(encodeRecord({ kind: { $case: "hello", value: hello } }));
    expect(back).toEqual({ kind: "other", record: { kind: { $case: "hello", value: hello } } });
  });

  it("turns truncated, oversized and garbage records into MIGRATION_PROTOCOL errors", () => {
    const msg = allocBatch("pages", 1, [1, 2], [], 8192, 0);
    msg.data.fill(1);
    for (let cut = 1; cut < msg.message.length; cut += 997) {
      expect(() => decodeRecord(msg.message.subarray(0, cut))).toThrow(
        expect.objectContaining({ code: MigrationErrorCode.PROTOCOL }),
      );
    }
    expect(() => decodeRecord(new Uint8Array(9 * 1024 * 1024))).toThrow(/too large/);
    expect(() => decodeRecord(Buffer.from([0xff, 0xff, 0xff]))).toThrow(
      expect.objectContaining({ code: MigrationErrorCode.PROTOCOL }),
    );
    // Wire type 7 does not exist.
    expect(() => decodeRecord(Buffer.from([0x12, 0x02, 0x0f, 0x00]))).toThrow(
      expect.objectContaining({ code: MigrationErrorCode.PROTOCOL }),
    );
  });

  it("decodes a record of a kind it does not know as a record without a kind", () => {
    // Field 15 of MigrationRecord: a newer sender's record type.
    const back = decodeRecord(Buffer.from([0x7a, 0x01, 0x00]));
    expect(back).toEqual({ kind: "other", record: { kind: undefined } });
  });
});
