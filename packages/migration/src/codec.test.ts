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
  it("writes page batches in the protobuf wire format of MigrationRecord, data 8-byte aligned", () => {
    const items = [0, 1, 127, 128, 16_383, 16_384, 2 ** 32 - 1];
    const zeros = [5, 300_000];
    for (const n of [1, 2, 7]) {
      const data = pagesOf(n, 3);
      for (const [kind, round, compression] of [
        ["pages", 0, Compression.COMPRESSION_NONE],
        ["disk", 7, Compression.COMPRESSION_DEFLATE],
      ] as const) {
        const msg = allocBatch(kind, round, items.slice(0, n), zeros, data.length, compression);
        msg.data.set(data);
        expect(msg.data.byteOffset % 8).toBe(0);
        // ts-proto reads it as the same record (padding aside)...
        const viaProto = MigrationRecord.decode(msg.message);
        const v = viaProto.kind!.value as unknown as { align: Buffer; data: Buffer } & Record<
          string,
          unknown
        >;
        expect(v.align.every((b) => b === 0)).toBe(true);
        const { align: _align, ...rest } = v;
        const want =
          kind === "pages"
            ? { round, pages: items.slice(0, n), zeroPages: zeros, compression, data: Buffer.from(data) }
            : { round, blocks: items.slice(0, n), zeroBlocks: zeros, compression, data: Buffer.from(data) };
        expect(viaProto.kind!.$case).toBe(kind);
        expect(rest).toEqual(want);
        // ...and a received copy (5 bytes into an aligned buffer, as grpc-js hands it over) decodes
        // with its data aligned, as a view.
        const frame = Buffer.alloc(msg.message.length + 5);
        msg.message.copy(frame, 5);
        const received = frame.subarray(5);
        const back = decodeRecord(received);
        if (back.kind === "other") throw new Error("fast path not taken");
        expect(back.kind).toBe(kind);
        expect(back.batch.round).toBe(round);
        expect(back.batch.items).toEqual(items.slice(0, n));
        expect(back.batch.zeroItems).toEqual(zeros);
        expect(back.batch.compression).toBe(compression);
        expect(Buffer.compare(Buffer.from(back.batch.data), Buffer.from(data))).toBe(0);
        expect(back.batch.data.buffer).toBe(frame.buffer);
        expect(back.batch.data.byteOffset % 8).toBe(0);
        // ts-proto's own encoding decodes the same way.
        const again = decodeRecord(encodeRecord(viaProto));
        expect(again.kind !== "other" && again.batch.items).toEqual(items.slice(0, n));
      }
    }
  });

  it("reads batches written by ts-proto (unpacked lists and unknown fields too)", () => {
    const rec = encodeRecord({
      kind: {
        $case: "pages",
        value: {
          round: 3,
          pages: [9, 10],
          zeroPages: [],
          data: Buffer.from(pagesOf(2, 1)),
          compression: 0,
          align: Buffer.alloc(0),
        },
      },
    });
    const back = decodeRecord(rec);
    expect(back.kind === "pages" && back.batch.items).toEqual([9, 10]);
    // Field 9 (varint) inside the batch, then pages 11 as an unpacked varint: still readable.
    const inner = Buffer.from([0x08, 0x01, 0x48, 0x05, 0x10, 0x0b, 0x3a, 0x00]);
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
