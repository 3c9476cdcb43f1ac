import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SkiffError } from "@skiff/common";
import { afterAll, describe, expect, it } from "vitest";
import { Machine } from "../machine/machine.js";
import { Ram } from "../memory/ram.js";
import { ByteWriter } from "./bytes.js";
import { decodeSnapshot, encodeSnapshot } from "./container.js";
import { crc32 } from "./crc32.js";
import { SnapshotFile } from "./file.js";
import { writeStateValue } from "./state-codec.js";

const dir = mkdtempSync(join(tmpdir(), "skiff-snapfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function fileOf(bytes: Uint8Array): string {
  const path = join(dir, `s${++files}.snap`);
  writeFileSync(path, bytes);
  return path;
}

const RAM = 1 << 20;
/** RAM with runs of non-zero pages (first, middle, last page) and zero gaps between them. */
function sampleRam(): Ram {
  const ram = new Ram(RAM);
  for (const [page, count] of [
    [0, 1],
    [7, 3],
    [255, 1],
  ] as const) {
    for (let p = page; p < page + count; p++) ram.u8.fill(p + 1, p * 4096, (p + 1) * 4096);
  }
  return ram;
}
const components = {
  machine: { version: 3, state: { a: 1, name: "héllo" } },
  uart: { version: 1, state: {} },
};

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof SkiffError) return err.code;
    throw err;
  }
  return undefined;
}

describe("snapshot file", () => {
  const bytes = encodeSnapshot({ components, ram: sampleRam() });

  it("reads what decodeSnapshot reads, its RAM straight into RAM, fresh or written before", async () => {
    const f = new SnapshotFile(fileOf(bytes));
    expect(f.components).toEqual(decodeSnapshot(bytes).components);
    const fresh = new Ram(RAM);
    await f.loadRam(fresh, true);
    expect(Buffer.compare(fresh.u8, sampleRam().u8)).toBe(0);
    // RAM an earlier guest wrote: the gaps between the runs are cleared.
    const used = new Ram(RAM);
    used.u8.fill(0xee);
    await new SnapshotFile(fileOf(bytes)).loadRam(used, false);
    expect(Buffer.compare(used.u8, sampleRam().u8)).toBe(0);
  });

  it("reads format 1 (states without a version)", async () => {
    const w = new ByteWriter();
    for (const c of "SKIFFSNP") w.u8(c.charCodeAt(0));
    w.u16(1);
    w.u16(0);
    w.u32(1);
    const body = new ByteWriter();
    writeStateValue(body, { a: 1 });
    const state = body.finish();
    w.u8(1);
    w.string("machine");
    w.u32(state.length);
    w.bytes(state);
    const out = w.finish();
    const sealed = new Uint8Array(out.length + 4);
    sealed.set(out);
    new DataView(sealed.buffer).setUint32(out.length, crc32(out), true);
    const f = new SnapshotFile(fileOf(sealed));
    expect(f.components).toEqual({ machine: { version: 1, state: { a: 1 } } });
    expect(f.hasRam).toBe(false);
    await f.loadRam(new Ram(RAM), true);
  });

  it("refuses a flipped bit anywhere (checksum), a cut file, another size of RAM, foreign bytes", async () => {
    // A byte of a RAM run: noticed once the run is read, before any state is restored.
    const flipped = Uint8Array.from(bytes);
    flipped[flipped.length - 100]! ^= 1;
    const f = new SnapshotFile(fileOf(flipped));
    expect(await codeOf(() => f.loadRam(new Ram(RAM), true))).toBe("SNAPSHOT_CHECKSUM");
    expect(await codeOf(() => new SnapshotFile(fileOf(bytes.subarray(0, bytes.length - 5000))))).toBe(
      "SNAPSHOT_CORRUPT",
    );
    const other = new SnapshotFile(fileOf(bytes));
    expect(await codeOf(() => other.loadRam(new Ram(RAM * 2), true))).toBe("SNAPSHOT_MISMATCH");
    expect(await codeOf(() => new SnapshotFile(fileOf(Buffer.alloc(64, 1))))).toBe("SNAPSHOT_FOREIGN");
  });

  it("restores a machine as Machine.restore does", async () => {
    const guest = readFileSync(new URL("../../test-guests/determinism.elf", import.meta.url));
    const m = Machine.create({ mode: "firmware", memoryBytes: 4 << 20, image: guest, clock: "instructions" });
    m.run(50_000);
    const snap = m.snapshot();
    const fromFile = await Machine.restoreFile(fileOf(snap));
    const fromBytes = Machine.restore(snap);
    fromFile.run(20_000);
    fromBytes.run(20_000);
    expect(Buffer.compare(fromFile.snapshot(), fromBytes.snapshot())).toBe(0);
  });
});
