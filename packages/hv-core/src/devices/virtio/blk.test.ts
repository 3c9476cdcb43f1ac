import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DirtyBitmap, PAGE_SHIFT, Ram } from "../../memory/ram.js";
import { type TestBuffer, TestVirtioDriver } from "../../test-support/virtio-driver.js";
import {
  diskDirtyLogBytes,
  SECTOR_SIZE,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VirtioBlk,
  VirtioBlkFeature,
} from "./blk.js";
import { VirtioFeature } from "./device.js";
import { VirtioMmioReg as R, VirtioMmio, VirtioStatus } from "./mmio.js";

const dir = mkdtempSync(join(tmpdir(), "skiff-blk-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECTORS = 128;
let diskNo = 0;

/** A disk image whose byte i is (i * 7 + i >> 9) & 0xff, plus a partial trailing sector. */
function makeDisk(): string {
  const path = join(dir, `disk${diskNo++}.img`);
  const bytes = new Uint8Array(SECTORS * SECTOR_SIZE + 100);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 9)) & 0xff;
  writeFileSync(path, bytes);
  return path;
}

function setup(opts: { readOnly?: boolean; dirtyLog?: SharedArrayBuffer } = {}) {
  const path = makeDisk();
  const ram = new Ram(1 << 20);
  const blk = new VirtioBlk({ path, readOnly: opts.readOnly ?? false, dirtyLog: opts.dirtyLog });
  let irq = false;
  const dev = new VirtioMmio(ram, blk, (l) => {
    irq = l;
  });
  const drv = new TestVirtioDriver(ram, dev);
  expect(drv.init() & VirtioStatus.DRIVER_OK).toBe(VirtioStatus.DRIVER_OK);
  return { path, ram, blk, dev, drv, irq: () => irq };
}

function header(type: number, sector: number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setUint32(8, sector >>> 0, true);
  v.setUint32(12, Math.floor(sector / 2 ** 32), true);
  return h;
}

/** Posts a request, notifies, and returns [status, used len, buffer addresses]. */
function request(drv: TestVirtioDriver, buffers: TestBuffer[], indirect = false) {
  const { head, addrs } = drv.post(0, buffers, { indirect });
  drv.notify(0);
  const used = drv.takeUsed(0);
  expect(used.length).toBe(1);
  expect(used[0]![0]).toBe(head);
  const last = buffers.length - 1;
  const statusAddr = addrs[last]! + ("in" in buffers[last]! ? buffers[last].in - 1 : 0);
  return { status: drv.bytes(statusAddr, 1)[0]!, len: used[0]![1], addrs };
}

const expected = (offset: number, len: number) => {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = ((offset + i) * 7 + ((offset + i) >> 9)) & 0xff;
  return out;
};

describe("VirtioBlk", () => {
  it("presents capacity in whole sectors, seg_max, blk_size and its features", () => {
    const { dev, drv, blk } = setup();
    expect(drv.r(R.DEVICE_ID)).toBe(2);
    expect(blk.capacity).toBe(SECTORS);
    expect(dev.read(R.CONFIG, 4)).toBe(SECTORS);
    expect(dev.read(R.CONFIG + 4, 4)).toBe(0);
    expect(dev.read(R.CONFIG + 12, 4)).toBe(254);
    expect(dev.read(R.CONFIG + 20, 4)).toBe(512);
    const f = drv.deviceFeatures();
    expect(f).toEqual(
      expect.arrayContaining([VirtioBlkFeature.FLUSH, VirtioBlkFeature.SEG_MAX, VirtioBlkFeature.BLK_SIZE]),
    );
    expect(f).not.toContain(VirtioBlkFeature.RO);
    expect(f).toContain(VirtioFeature.VERSION_1);
  });

  it("reads sectors into scattered buffers and marks those pages dirty", () => {
    const { drv, ram } = setup();
    ram.dirty.fetchAndClear();
    const { status, len, addrs } = request(drv, [
      { out: header(VIRTIO_BLK_T_IN, 3) },
      { in: 512 },
      { in: 512 },
      { in: 1 },
    ]);
    expect(status).toBe(VIRTIO_BLK_S_OK);
    expect(len).toBe(1025);
    expect(drv.bytes(addrs[1]!, 512)).toEqual(expected(3 * 512, 512));
    expect(drv.bytes(addrs[2]!, 512)).toEqual(expected(4 * 512, 512));
    const dirty = Array.from(ram.dirty.fetchAndClear());
    for (const a of addrs.slice(1)) expect(dirty).toContain((a - ram.base) >>> PAGE_SHIFT);
  });

  it("makes no assumption about framing: split header, data and status sharing a buffer", () => {
    const { drv } = setup();
    const h = header(VIRTIO_BLK_T_IN, 7);
    const { status, len, addrs } = request(drv, [
      { out: h.subarray(0, 5) },
      { out: h.subarray(5) },
      { in: 513 },
    ]);
    expect(status).toBe(VIRTIO_BLK_S_OK);
    expect(len).toBe(513);
    expect(drv.bytes(addrs[2]!, 512)).toEqual(expected(7 * 512, 512));
  });

  it("writes sectors to the file, and flushes", () => {
    const { drv, path } = setup();
    const data = new Uint8Array(1024).map((_, i) => (255 - i) & 0xff);
    const w = request(drv, [
      { out: header(VIRTIO_BLK_T_OUT, 5) },
      { out: data.subarray(0, 100) },
      { out: data.subarray(100) },
      { in: 1 },
    ]);
    expect(w.status).toBe(VIRTIO_BLK_S_OK);
    expect(w.len).toBe(1);
    const file = readFileSync(path);
    expect(new Uint8Array(file.subarray(5 * 512, 7 * 512))).toEqual(data);
    expect(new Uint8Array(file.subarray(4 * 512, 5 * 512))).toEqual(expected(4 * 512, 512));
    const f = request(drv, [{ out: header(VIRTIO_BLK_T_FLUSH, 0) }, { in: 1 }]);
    expect(f.status).toBe(VIRTIO_BLK_S_OK);
    // And the guest reads back what it wrote, through an indirect table.
    const r = request(drv, [{ out: header(VIRTIO_BLK_T_IN, 5) }, { in: 1024 }, { in: 1 }], true);
    expect(r.status).toBe(VIRTIO_BLK_S_OK);
    expect(drv.bytes(r.addrs[1]!, 1024)).toEqual(data);
  });

  it("logs the 4 KiB blocks a write touched in its dirty-block log (reads and failures log nothing)", () => {
    const log = new SharedArrayBuffer(diskDirtyLogBytes(SECTORS * SECTOR_SIZE + 100));
    const { drv } = setup({ dirtyLog: log });
    const dirty = new DirtyBitmap(Math.ceil((SECTORS * SECTOR_SIZE + 100) / 4096), log);
    // Sectors 7..9 span bytes 3584..5119: blocks 0 and 1.
    const w = request(drv, [
      { out: header(VIRTIO_BLK_T_OUT, 7) },
      { out: new Uint8Array(1536).fill(9) },
      { in: 1 },
    ]);
    expect(w.status).toBe(VIRTIO_BLK_S_OK);
    request(drv, [{ out: header(VIRTIO_BLK_T_IN, 100) }, { in: 512 }, { in: 1 }]);
    const bad = request(drv, [
      { out: header(VIRTIO_BLK_T_OUT, SECTORS) },
      { out: new Uint8Array(512) },
      { in: 1 },
    ]);
    expect(bad.status).toBe(VIRTIO_BLK_S_IOERR);
    expect(Array.from(dirty.fetchAndClear())).toEqual([0, 1]);
    request(drv, [{ out: header(VIRTIO_BLK_T_OUT, 120) }, { out: new Uint8Array(512).fill(1) }, { in: 1 }]);
    expect(Array.from(dirty.fetchAndClear())).toEqual([15]);
    expect(() => new VirtioBlk({ path: makeDisk(), dirtyLog: new SharedArrayBuffer(0) })).toThrow(
      expect.objectContaining({ code: "VIRTIO_BLK_DIRTY_LOG" }),
    );
  });

  it("answers GET_ID with the NUL-padded serial", () => {
    const { drv, path } = setup();
    const { status, len, addrs } = request(drv, [
      { out: header(VIRTIO_BLK_T_GET_ID, 0) },
      { in: 20 },
      { in: 1 },
    ]);
    expect(status).toBe(VIRTIO_BLK_S_OK);
    expect(len).toBe(21);
    const name = path.split("/").pop()!;
    const id = drv.bytes(addrs[1]!, 20);
    expect(new TextDecoder().decode(id.subarray(0, name.length))).toBe(name);
    expect(Array.from(id.subarray(name.length))).toEqual(new Array(20 - name.length).fill(0));
  });

  it("fails requests beyond the disk or not in whole sectors, and unknown types", () => {
    const { drv, path } = setup();
    const before = readFileSync(path);
    const cases: [TestBuffer[], number][] = [
      [[{ out: header(VIRTIO_BLK_T_IN, SECTORS - 1) }, { in: 1024 }, { in: 1 }], VIRTIO_BLK_S_IOERR],
      [[{ out: header(VIRTIO_BLK_T_IN, 2 ** 40) }, { in: 512 }, { in: 1 }], VIRTIO_BLK_S_IOERR],
      [[{ out: header(VIRTIO_BLK_T_IN, 0) }, { in: 100 }, { in: 1 }], VIRTIO_BLK_S_IOERR],
      [
        [{ out: header(VIRTIO_BLK_T_OUT, SECTORS) }, { out: new Uint8Array(512) }, { in: 1 }],
        VIRTIO_BLK_S_IOERR,
      ],
      [[{ out: header(VIRTIO_BLK_T_OUT, 0) }, { out: new Uint8Array(10) }, { in: 1 }], VIRTIO_BLK_S_IOERR],
      [[{ out: header(11, 0) }, { out: new Uint8Array(16) }, { in: 1 }], VIRTIO_BLK_S_UNSUPP],
    ];
    for (const [buffers, want] of cases) {
      const { status, len } = request(drv, buffers);
      expect(status).toBe(want);
      expect(len).toBeLessThanOrEqual(1);
    }
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("read-only: offers VIRTIO_BLK_F_RO, fails writes without touching the file, still reads", () => {
    const { drv, path } = setup({ readOnly: true });
    expect(drv.deviceFeatures()).toContain(VirtioBlkFeature.RO);
    const before = readFileSync(path);
    const w = request(drv, [
      { out: header(VIRTIO_BLK_T_OUT, 0) },
      { out: new Uint8Array(512).fill(1) },
      { in: 1 },
    ]);
    expect(w.status).toBe(VIRTIO_BLK_S_IOERR);
    expect(readFileSync(path).equals(before)).toBe(true);
    const r = request(drv, [{ out: header(VIRTIO_BLK_T_IN, 0) }, { in: 512 }, { in: 1 }]);
    expect(r.status).toBe(VIRTIO_BLK_S_OK);
    expect(drv.bytes(r.addrs[1]!, 512)).toEqual(expected(0, 512));
    expect(request(drv, [{ out: header(VIRTIO_BLK_T_FLUSH, 0) }, { in: 1 }]).status).toBe(VIRTIO_BLK_S_OK);
  });

  it("treats a request without header or status byte as a broken queue", () => {
    for (const buffers of [
      [{ out: new Uint8Array(8) }, { in: 1 }],
      [{ out: header(VIRTIO_BLK_T_IN, 0) }],
    ] as TestBuffer[][]) {
      const { drv, irq } = setup();
      drv.post(0, buffers);
      expect(() => drv.notify(0)).not.toThrow();
      expect(drv.r(R.STATUS) & VirtioStatus.DEVICE_NEEDS_RESET).toBe(VirtioStatus.DEVICE_NEEDS_RESET);
      expect(drv.r(R.INTERRUPT_STATUS) & 2).toBe(2);
      expect(irq()).toBe(true);
    }
  });

  it("turns host I/O errors into IOERR after the file is closed", () => {
    const { drv, blk } = setup();
    blk.close();
    expect(request(drv, [{ out: header(VIRTIO_BLK_T_IN, 0) }, { in: 512 }, { in: 1 }]).status).toBe(
      VIRTIO_BLK_S_IOERR,
    );
  });

  it("saves its state and refuses a snapshot for a disk of another size", () => {
    const a = setup();
    const s = a.dev.save();
    const b = setup();
    b.dev.restore(s, 2);
    expect(b.dev.save()).toEqual(s);
    const other = join(dir, "small.img");
    writeFileSync(other, new Uint8Array(4096));
    const small = new VirtioBlk({ path: other });
    expect(() => small.restore(a.blk.save(), 1)).toThrow(/sectors/);
    expect(() => b.blk.restore(a.blk.save(), 2)).toThrow(/version 2/);
    small.close();
  });

  it("reports a missing disk file with a code", () => {
    expect(() => new VirtioBlk({ path: join(dir, "missing.img") })).toThrow(
      expect.objectContaining({ code: "VIRTIO_BLK_OPEN_FAILED" }),
    );
  });
});
