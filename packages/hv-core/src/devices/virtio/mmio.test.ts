import { SkiffError } from "@skiff/common";
import { describe, expect, it } from "vitest";
import { PAGE_SHIFT, Ram } from "../../memory/ram.js";
import { requireStateVersion, type StateRecord } from "../../snapshot/state.js";
import { decodeState, encodeState } from "../../snapshot/state-codec.js";
import { TestVirtioDriver } from "../../test-support/virtio-driver.js";
import type { AccessSize } from "../mmio.js";
import { type VirtioBackend, type VirtioDeviceContext, VirtioFeature } from "./device.js";
import {
  VirtioMmioReg as R,
  VIRTIO_MMIO_MAGIC,
  VIRTIO_MMIO_VENDOR,
  VirtioMmio,
  VirtioStatus,
} from "./mmio.js";
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from "./queue.js";

/**
 * A small real device for transport tests: answers each chain with its readable bytes reversed,
 * at most `perNotify` chains per notification (so a queue can be left half consumed).
 */
class ReverseDevice implements VirtioBackend {
  readonly deviceId = 0x7f;
  readonly stateVersion = 1;
  readonly kind = "virtio-reverse";
  readonly features = [3];
  readonly queueSizes = [8, 4];
  readonly configSize = 8;
  readonly config = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  handled = 0;
  resets = 0;
  ctx!: VirtioDeviceContext;

  constructor(private readonly perNotify = Number.POSITIVE_INFINITY) {}

  attach(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  readConfig(offset: number, size: AccessSize): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = (v << 8) | this.config[offset + i]!;
    return v >>> 0;
  }
  writeConfig(offset: number, _size: AccessSize, value: number): void {
    this.config[offset] = value & 0xff;
  }
  notify(index: number): void {
    const q = this.ctx.queue(index);
    if (!q) return;
    for (let n = 0; n < this.perNotify; n++) {
      const chain = q.pop();
      if (!chain) return;
      const data = chain.read().reverse();
      q.pushUsed(chain.head, chain.write(0, data));
      this.handled++;
    }
  }
  reset(): void {
    this.resets++;
  }
  save(): StateRecord {
    return { handled: this.handled };
  }
  restore(s: StateRecord, version: number): void {
    requireStateVersion(this.kind, version, [1]);
    this.handled = s.handled as number;
  }
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SkiffError) return err.code;
    throw err;
  }
  return undefined;
}

function setup(perNotify?: number, ram = new Ram(1 << 20)) {
  let irq = false;
  const backend = new ReverseDevice(perNotify);
  const dev = new VirtioMmio(ram, backend, (level) => {
    irq = level;
  });
  const drv = new TestVirtioDriver(ram, dev);
  return { ram, dev, drv, backend, irq: () => irq };
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe("VirtioMmio transport", () => {
  it("identifies itself as a version 2 device and offers VERSION_1 and INDIRECT_DESC", () => {
    const { drv, dev } = setup();
    expect(drv.r(R.MAGIC_VALUE)).toBe(VIRTIO_MMIO_MAGIC);
    expect(drv.r(R.VERSION)).toBe(2);
    expect(drv.r(R.DEVICE_ID)).toBe(0x7f);
    expect(drv.r(R.VENDOR_ID)).toBe(VIRTIO_MMIO_VENDOR);
    expect(drv.deviceFeatures()).toEqual([3, VirtioFeature.INDIRECT_DESC, VirtioFeature.VERSION_1]);
    drv.w(R.QUEUE_SEL, 1);
    expect(drv.r(R.QUEUE_NUM_MAX)).toBe(4);
    drv.w(R.QUEUE_SEL, 2);
    expect(drv.r(R.QUEUE_NUM_MAX)).toBe(0);
    expect(drv.r(R.QUEUE_READY)).toBe(0);
    drv.w(R.SHM_SEL, 0);
    expect(drv.r(R.SHM_LEN_LOW)).toBe(0xffffffff);
    expect(drv.r(R.SHM_LEN_HIGH)).toBe(0xffffffff);
    expect(dev.read(R.MAGIC_VALUE, 1)).toBe(0); // control registers are 32-bit only
    // Configuration space: byte, halfword and word reads; writes reach the device.
    expect(dev.read(R.CONFIG + 1, 1)).toBe(2);
    expect(dev.read(R.CONFIG + 2, 2)).toBe(0x0403);
    expect(dev.read(R.CONFIG + 4, 4)).toBe(0x08070605);
    expect(dev.read(R.CONFIG + 8, 4)).toBe(0); // past the device's config space
    dev.write(R.CONFIG, 1, 0x99);
    expect(dev.read(R.CONFIG, 1)).toBe(0x99);
  });

  it("refuses FEATURES_OK without VERSION_1 or with features it never offered", () => {
    expect(setup().drv.init([3]) & VirtioStatus.FEATURES_OK).toBe(0);
    expect(setup().drv.init([3, 5, VirtioFeature.VERSION_1]) & VirtioStatus.FEATURES_OK).toBe(0);
    const ok = setup().drv.init([VirtioFeature.VERSION_1]);
    expect(ok & (VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK)).toBe(
      VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK,
    );
  });

  it("serves a chain: data out, data in, used ring, interrupt, dirty pages", () => {
    const { drv, ram, irq } = setup();
    drv.init();
    ram.dirty.fetchAndClear();
    const { head, addrs } = drv.post(0, [{ out: enc("hel") }, { out: enc("lo") }, { in: 2 }, { in: 3 }]);
    expect(irq()).toBe(false);
    drv.notify(0);
    expect(irq()).toBe(true);
    expect(drv.r(R.INTERRUPT_STATUS)).toBe(1);
    expect(drv.takeUsed(0)).toEqual([[head, 5]]);
    expect(dec(drv.bytes(addrs[2]!, 2)) + dec(drv.bytes(addrs[3]!, 3))).toBe("olleh");
    const dirty = Array.from(ram.dirty.fetchAndClear());
    const q = drv.queues[0]!;
    expect(dirty).toContain((q.used - ram.base) >>> PAGE_SHIFT);
    expect(dirty).toContain((addrs[2]! - ram.base) >>> PAGE_SHIFT);
    expect(drv.ack()).toBe(1);
    expect(irq()).toBe(false);
  });

  it("follows indirect tables, alone or after direct descriptors", () => {
    const { drv, ram } = setup();
    drv.init();
    const a = drv.post(0, [{ out: enc("abc") }, { in: 3 }], { indirect: true });
    drv.notify(0);
    expect(drv.takeUsed(0)).toEqual([[a.head, 3]]);
    expect(dec(drv.bytes(a.addrs[1]!, 3))).toBe("cba");

    // Direct "xy" followed by an indirect table holding one writable buffer.
    const q = drv.queues[0]!;
    const x = drv.alloc(2, 8);
    ram.u8.set(enc("xy"), x - ram.base);
    const out = drv.alloc(2, 8);
    const table = drv.alloc(16, 16);
    drv.writeDesc(table, 0, out, 2, VIRTQ_DESC_F_WRITE, 0);
    drv.writeDesc(q.desc, 5, x, 2, VIRTQ_DESC_F_NEXT, 6);
    drv.writeDesc(q.desc, 6, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    drv.publish(0, 5);
    drv.notify(0);
    expect(drv.takeUsed(0)).toEqual([[5, 2]]);
    expect(dec(drv.bytes(out, 2))).toBe("yx");

    // Indirect tables need no alignment (Linux's kmalloc gives 8-byte aligned ones on rv32).
    const odd = drv.alloc(16 + 32, 16) + 8;
    drv.writeDesc(odd, 0, x, 2, VIRTQ_DESC_F_NEXT, 1);
    drv.writeDesc(odd, 1, out, 2, VIRTQ_DESC_F_WRITE, 0);
    drv.writeDesc(q.desc, 7, odd, 32, VIRTQ_DESC_F_INDIRECT, 0);
    ram.u8.set(enc("pq"), x - ram.base);
    drv.publish(0, 7);
    drv.notify(0);
    expect(drv.takeUsed(0)).toEqual([[7, 2]]);
    expect(dec(drv.bytes(out, 2))).toBe("qp");
  });

  it("honours VIRTQ_AVAIL_F_NO_INTERRUPT", () => {
    const { drv, ram, irq } = setup();
    drv.init();
    ram.u8[drv.queues[0]!.avail - ram.base] = 1;
    drv.post(0, [{ out: enc("a") }, { in: 1 }]);
    drv.notify(0);
    expect(drv.takeUsed(0).length).toBe(1);
    expect(irq()).toBe(false);
  });

  it("uses no buffer before DRIVER_OK and picks posted ones up when it is set", () => {
    const { drv, backend } = setup();
    drv.w(R.STATUS, VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER);
    drv.w(R.DRIVER_FEATURES_SEL, 1);
    drv.w(R.DRIVER_FEATURES, 1);
    drv.w(R.STATUS, VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER | VirtioStatus.FEATURES_OK);
    drv.setupQueue(0, 8);
    drv.post(0, [{ out: enc("z") }, { in: 1 }]);
    drv.notify(0);
    expect(backend.handled).toBe(0);
    drv.w(R.STATUS, 0x0f);
    expect(backend.handled).toBe(1);
    expect(drv.takeUsed(0).length).toBe(1);
  });

  it("freezes a ready queue's size and addresses", () => {
    const { drv } = setup();
    drv.init();
    drv.w(R.QUEUE_SEL, 0);
    drv.w(R.QUEUE_DESC_LOW, 0x1000);
    drv.w(R.QUEUE_NUM, 2);
    expect(drv.r(R.QUEUE_DESC_LOW)).toBe(drv.queues[0]!.desc);
    expect(drv.r(R.QUEUE_NUM)).toBe(8);
    const { head } = drv.post(0, [{ out: enc("ok") }, { in: 2 }]);
    drv.notify(0);
    expect(drv.takeUsed(0)).toEqual([[head, 2]]);
  });

  describe("malformed chains set DEVICE_NEEDS_RESET and interrupt, never throw", () => {
    type Breaker = (drv: TestVirtioDriver, ram: Ram) => void;
    const cases: [string, Breaker][] = [
      ["buffer outside RAM", (d) => d.writeDesc(d.queues[0]!.desc, 0, 0x1000, 16, 0, 0)],
      [
        "buffer running past the end of RAM",
        (d, ram) => d.writeDesc(d.queues[0]!.desc, 0, ram.base + ram.size - 4, 8, 0, 0),
      ],
      [
        "64-bit address above 4 GiB",
        (d, ram) => d.writeDesc(d.queues[0]!.desc, 0, ram.base + 2 ** 32, 8, 0, 0),
      ],
      [
        "loop",
        (d, ram) => {
          d.writeDesc(d.queues[0]!.desc, 0, ram.base, 4, VIRTQ_DESC_F_NEXT, 1);
          d.writeDesc(d.queues[0]!.desc, 1, ram.base, 4, VIRTQ_DESC_F_NEXT, 0);
        },
      ],
      ["next out of range", (d, ram) => d.writeDesc(d.queues[0]!.desc, 0, ram.base, 4, VIRTQ_DESC_F_NEXT, 8)],
      [
        "readable after writable",
        (d, ram) => {
          d.writeDesc(d.queues[0]!.desc, 0, ram.base, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
          d.writeDesc(d.queues[0]!.desc, 1, ram.base, 4, 0, 0);
        },
      ],
      [
        "indirect with NEXT",
        (d, ram) => {
          const t = d.alloc(16, 16);
          d.writeDesc(t, 0, ram.base, 4, 0, 0);
          d.writeDesc(d.queues[0]!.desc, 0, t, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
        },
      ],
      [
        "nested indirect",
        (d, ram) => {
          const inner = d.alloc(16, 16);
          d.writeDesc(inner, 0, ram.base, 4, 0, 0);
          const outer = d.alloc(16, 16);
          d.writeDesc(outer, 0, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
          d.writeDesc(d.queues[0]!.desc, 0, outer, 16, VIRTQ_DESC_F_INDIRECT, 0);
        },
      ],
      [
        "indirect table of odd length",
        (d) => d.writeDesc(d.queues[0]!.desc, 0, d.alloc(24, 16), 24, VIRTQ_DESC_F_INDIRECT, 0),
      ],
      [
        "indirect table outside RAM",
        (d) => d.writeDesc(d.queues[0]!.desc, 0, 0x4000, 32, VIRTQ_DESC_F_INDIRECT, 0),
      ],
      [
        "indirect loop",
        (d, ram) => {
          const t = d.alloc(32, 16);
          d.writeDesc(t, 0, ram.base, 4, VIRTQ_DESC_F_NEXT, 1);
          d.writeDesc(t, 1, ram.base, 4, VIRTQ_DESC_F_NEXT, 0);
          d.writeDesc(d.queues[0]!.desc, 0, t, 32, VIRTQ_DESC_F_INDIRECT, 0);
        },
      ],
    ];
    for (const [name, breakIt] of cases) {
      it(name, () => {
        const { drv, dev, ram, irq, backend } = setup();
        drv.init();
        breakIt(drv, ram);
        drv.publish(0, 0);
        expect(() => drv.notify(0)).not.toThrow();
        expect(drv.r(R.STATUS) & VirtioStatus.DEVICE_NEEDS_RESET).toBe(VirtioStatus.DEVICE_NEEDS_RESET);
        expect(drv.r(R.INTERRUPT_STATUS)).toBe(2);
        expect(irq()).toBe(true);
        expect(dev.lastFault).toMatch(/queue 0/);
        expect(drv.usedIdx(0)).toBe(0);
        // Quiet until reset, even for good chains on other queues.
        drv.post(1, [{ out: enc("a") }, { in: 1 }]);
        drv.notify(1);
        expect(backend.handled).toBe(0);
        // Writing a status keeps NEEDS_RESET; only a reset clears it.
        drv.w(R.STATUS, 0x0f);
        expect(drv.r(R.STATUS) & VirtioStatus.DEVICE_NEEDS_RESET).toBe(VirtioStatus.DEVICE_NEEDS_RESET);
        drv.w(R.STATUS, 0);
        expect(drv.r(R.STATUS)).toBe(0);
        expect(irq()).toBe(false);
        expect(backend.resets).toBeGreaterThan(0);
        drv.init();
        const { head } = drv.post(0, [{ out: enc("ab") }, { in: 2 }]);
        drv.notify(0);
        expect(drv.takeUsed(0)).toEqual([[head, 2]]);
      });
    }

    it("an indirect descriptor the driver did not negotiate", () => {
      const { drv, ram } = setup();
      drv.init([VirtioFeature.VERSION_1]);
      const t = drv.alloc(16, 16);
      drv.writeDesc(t, 0, ram.base, 4, 0, 0);
      drv.writeDesc(drv.queues[0]!.desc, 0, t, 16, VIRTQ_DESC_F_INDIRECT, 0);
      drv.publish(0, 0);
      drv.notify(0);
      expect(drv.r(R.STATUS) & VirtioStatus.DEVICE_NEEDS_RESET).toBe(VirtioStatus.DEVICE_NEEDS_RESET);
    });

    it("an available index that jumps past the queue size", () => {
      const { drv, ram } = setup();
      drv.init();
      new DataView(ram.buffer).setUint16(drv.queues[0]!.avail + 2 - ram.base, 9, true);
      drv.notify(0);
      expect(drv.r(R.STATUS) & VirtioStatus.DEVICE_NEEDS_RESET).toBe(VirtioStatus.DEVICE_NEEDS_RESET);
    });

    it("a queue placed outside RAM or with a bad size (found at QueueReady)", () => {
      for (const [size, layout] of [
        [8, { desc: 0x1000 }],
        [8, { used: 0x8000_0002 }],
        [6, {}],
        [16, {}],
      ] as const) {
        const { drv, irq } = setup();
        drv.w(R.STATUS, 3);
        drv.w(R.DRIVER_FEATURES_SEL, 1);
        drv.w(R.DRIVER_FEATURES, 1);
        drv.w(R.STATUS, 0x0b);
        expect(() => drv.setupQueue(0, size, layout)).not.toThrow();
        expect(drv.r(R.STATUS) & VirtioStatus.DEVICE_NEEDS_RESET).toBe(VirtioStatus.DEVICE_NEEDS_RESET);
        expect(irq()).toBe(false); // before DRIVER_OK the driver learns it from Status
        drv.w(R.STATUS, 0x0f);
        expect(() => drv.notify(0)).not.toThrow();
      }
    });
  });

  it("round-trips a half-consumed queue through a snapshot into a new machine", () => {
    const a = setup(2);
    a.drv.init();
    const posted = ["one", "two", "three", "four"].map((s) =>
      a.drv.post(0, [{ out: enc(s) }, { in: s.length }]),
    );
    a.drv.notify(0);
    expect(a.drv.takeUsed(0).map(([id]) => id)).toEqual([posted[0]!.head, posted[1]!.head]);
    const state = decodeState(encodeState(a.dev.save())) as StateRecord;

    const ram = new Ram(a.ram.size);
    ram.u8.set(a.ram.u8);
    const b = setup(2, ram);
    b.dev.restore(state, 2);
    expect(b.irq()).toBe(true); // the unacknowledged used-buffer interrupt survives
    expect(b.backend.handled).toBe(2);
    expect(b.dev.save()).toEqual(state);
    // The new driver picks up where the old one was (same rings in the copied RAM).
    b.drv.continueFrom(a.drv);
    b.drv.notify(0);
    expect(b.drv.takeUsed(0).map(([id]) => id)).toEqual([posted[2]!.head, posted[3]!.head]);
    expect(dec(b.drv.bytes(posted[3]!.addrs[1]!, 4))).toBe("ruof");
    expect(() => setup().dev.restore({ ...state, deviceId: 3 }, 2)).toThrow(/device/);
    // The backend's version travels with the transport's state and is checked by the backend.
    expect(codeOf(() => setup().dev.restore({ ...state, deviceVersion: 9 }, 2))).toBe(
      "SNAPSHOT_STATE_VERSION",
    );
    expect(codeOf(() => setup().dev.restore(state, 3))).toBe("SNAPSHOT_STATE_VERSION");
    // A transport state of version 1 (format-1 snapshots) carries a version-1 backend state.
    const { deviceVersion: _v, ...v1 } = state;
    const c = setup(2, ram);
    c.dev.restore(v1, 1);
    expect(c.dev.save()).toEqual(state);
  });
});
