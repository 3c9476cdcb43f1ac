import { describe, expect, it } from "vitest";
import {
  encodeFrame,
  encodeJson,
  FrameDecoder,
  FrameType,
  parseJson,
  type VmmHandlers,
  type VmmOps,
} from "./protocol.js";

describe("VMM control protocol framing", () => {
  it("reassembles frames split and merged arbitrarily by the stream", () => {
    const wire = Buffer.concat([
      encodeJson({ t: "req", id: 7, op: "status", args: {} }),
      encodeFrame(FrameType.Input, Buffer.from("typed")),
      encodeFrame(FrameType.Output, new Uint8Array(0)),
    ]);
    for (const cut of [1, 3, 5, 17, wire.length - 1]) {
      const d = new FrameDecoder();
      const frames = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      expect(frames.map((f) => f.type)).toEqual([FrameType.Json, FrameType.Input, FrameType.Output]);
      expect(parseJson(frames[0]!.payload)).toEqual({ t: "req", id: 7, op: "status", args: {} });
      expect(frames[1]!.payload.toString()).toBe("typed");
      expect(frames[2]!.payload.length).toBe(0);
    }
  });

  it("rejects a frame length that cannot be right instead of buffering forever", () => {
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(0xffff_ffff, 0);
    expect(() => new FrameDecoder().push(bad)).toThrow(/bad frame length/);
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 0, 1]))).toThrow(/bad frame length/);
  });

  it("refuses a control message without a type", () => {
    expect(() => parseJson(Buffer.from("{}"))).toThrow(/without a type/);
  });
});

describe("VMM operations are typed by VmmOps", () => {
  it("takes each operation's own arguments and gives its own result (the rest does not compile)", async () => {
    const handlers: VmmHandlers<null, "stop" | "migrateCancel"> = {
      stop: (_conn, args) => ({ result: { graceful: !args.force && args.timeoutMs > 0 } }),
      migrateCancel: (_conn, args) => ({ result: { cancelled: args.migrationId === "m1" } }),
    };
    expect(await handlers.stop(null, { force: false, timeoutMs: 10 })).toEqual({
      result: { graceful: true },
    });
    expect(await handlers.migrateCancel(null, { migrationId: "m1" })).toEqual({
      result: { cancelled: true },
    });
    const wrong: VmmHandlers<null, "suspend"> = {
      // @ts-expect-error suspend answers with snapshotBytes, not a stop's result
      suspend: () => ({ result: { graceful: true } }),
    };
    expect(wrong.suspend).toBeTypeOf("function");
    // @ts-expect-error stop needs force and timeoutMs
    const badArgs: VmmOps["stop"]["args"] = { force: true };
    expect(badArgs.force).toBe(true);
  });
});
