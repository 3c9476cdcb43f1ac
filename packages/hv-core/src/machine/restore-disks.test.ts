import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diskDirtyLogBytes } from "../devices/virtio/blk.js";
import type { MachineConfig } from "./config.js";
import { Machine } from "./machine.js";

const guest = new URL("../../test-guests/determinism.elf", import.meta.url);
const dir = mkdtempSync(join(tmpdir(), "skiff-restore-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("restore with the disk elsewhere (live migration)", () => {
  it("opens the given disk instead of the snapshot's path, keeping the device state", () => {
    const src = join(dir, "src.img");
    writeFileSync(src, new Uint8Array(64 * 1024));
    const m = Machine.create({
      mode: "firmware",
      memoryBytes: 1 << 20,
      image: readFileSync(guest),
      disks: [{ path: src }],
    });
    m.run(10_000);
    const snap = m.snapshot({ includeRam: false });
    m.close();
    const dst = join(dir, "dst.img");
    copyFileSync(src, dst);
    rmSync(src);
    // The snapshot's own path is gone: a plain restore cannot open it.
    expect(() => Machine.restore(snap)).toThrow(expect.objectContaining({ code: "VIRTIO_BLK_OPEN_FAILED" }));
    const log = new SharedArrayBuffer(diskDirtyLogBytes(64 * 1024));
    const r = Machine.restore(snap, { disks: [{ path: dst, dirtyLog: log }] });
    expect(r.spec.disks).toEqual([{ path: dst, readOnly: false, dirtyLog: log }]);
    expect(r.hart.pc).toBe(m.hart.pc);
    // The log is not part of a snapshot.
    expect(Buffer.from(r.snapshot({ includeRam: false })).includes(Buffer.from("dirtyLog"))).toBe(false);
    r.close();
    expect(() => Machine.restore(snap, { disks: [] })).toThrow(
      expect.objectContaining({ code: "SNAPSHOT_MISMATCH" }),
    );
  });

  it("restores into a blank machine built before the snapshot existed, as into a new one", () => {
    const disk = join(dir, "blank.img");
    writeFileSync(disk, new Uint8Array(64 * 1024));
    const cfg: Omit<MachineConfig, "image"> = {
      mode: "firmware",
      memoryBytes: 1 << 20,
      clock: "instructions",
      disks: [{ path: disk }],
    };
    const m = Machine.create({ ...cfg, image: readFileSync(guest) });
    m.run(10_000);
    const snap = m.snapshot();
    m.close();
    const blank = Machine.blank(cfg);
    const fresh = Machine.restore(snap, { disks: [{ path: disk }] });
    blank.restoreInto(snap);
    const same = () => Buffer.from(blank.snapshot()).equals(Buffer.from(fresh.snapshot()));
    expect(same()).toBe(true);
    blank.run(10_000);
    fresh.run(10_000);
    expect(same()).toBe(true);
    // Once only: a machine that ran holds state a snapshot need not overwrite.
    expect(() => blank.restoreInto(snap)).toThrow(expect.objectContaining({ code: "MACHINE_NOT_BLANK" }));
    blank.close();
    fresh.close();
    const other = Machine.blank({ ...cfg, memoryBytes: 2 << 20 });
    expect(() => other.restoreInto(snap)).toThrow(expect.objectContaining({ code: "SNAPSHOT_MISMATCH" }));
    other.close();
  });
});
