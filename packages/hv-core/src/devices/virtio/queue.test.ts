import { describe, expect, it } from "vitest";
import { Ram } from "../../memory/ram.js";
import { DescriptorChain, SplitQueue, VIRTQ_DESC_F_WRITE } from "./queue.js";

const base = 0x8000_0000;

function setup(size = 4) {
  const ram = new Ram(1 << 16);
  const events: string[] = [];
  const q = new SplitQueue(
    ram,
    0,
    8,
    () => events.push("used"),
    (i, reason) => events.push(`fault ${i}: ${reason}`),
  );
  q.size = size;
  q.descLo = base + 0x1000;
  q.driverLo = base + 0x2000;
  q.deviceLo = base + 0x3000;
  const v = new DataView(ram.buffer);
  const desc = (i: number, addr: number, len: number, flags: number, next: number) => {
    const o = 0x1000 + 16 * i;
    v.setUint32(o, addr, true);
    v.setUint32(o + 4, 0, true);
    v.setUint32(o + 8, len, true);
    v.setUint16(o + 12, flags, true);
    v.setUint16(o + 14, next, true);
  };
  let availIdx = 0;
  const publish = (head: number) => {
    v.setUint16(0x2004 + 2 * (availIdx % q.size), head, true);
    availIdx = (availIdx + 1) & 0xffff;
    v.setUint16(0x2002, availIdx, true);
  };
  const setAvailIdx = (i: number) => {
    availIdx = i;
    v.setUint16(0x2002, i, true);
  };
  return { ram, q, v, events, desc, publish, setAvailIdx };
}

describe("SplitQueue", () => {
  it("checks the layout when enabled", () => {
    const { q, events } = setup();
    expect(q.enable()).toBe(true);
    expect(events).toEqual([]);
    const bad = setup();
    bad.q.deviceLo = base + 0xfffc; // used ring runs off the end of RAM
    expect(bad.q.enable()).toBe(false);
    expect(bad.events).toEqual(["fault 0: used ring misaligned or outside RAM"]);
    expect(bad.q.pop()).toBeNull();
  });

  it("pops chains in ring order and pushes used elements with wrapping 16-bit indices", () => {
    const { q, v, desc, publish, setAvailIdx, events } = setup(4);
    q.enable();
    // Start both cursors just below the wrap, as after 65534 requests.
    q.lastAvailIdx = 0xfffe;
    q.usedIdx = 0xfffe;
    setAvailIdx(0xfffe);
    for (let i = 0; i < 3; i++) {
      desc(i, base + 0x4000 + 16 * i, 16, VIRTQ_DESC_F_WRITE, 0);
      publish(i);
    }
    expect(v.getUint16(0x2002, true)).toBe(1);
    expect(q.hasAvailable()).toBe(true);
    const heads: number[] = [];
    for (let c = q.pop(); c !== null; c = q.pop()) {
      heads.push(c.head);
      q.pushUsed(c.head, c.writableLength);
    }
    expect(heads).toEqual([0, 1, 2]);
    expect(q.lastAvailIdx).toBe(1);
    expect(v.getUint16(0x3002, true)).toBe(1);
    // Used slots: 0xfffe % 4 = 2, 0xffff % 4 = 3, 0 % 4 = 0.
    expect(v.getUint32(0x3004 + 8 * 2, true)).toBe(0);
    expect(v.getUint32(0x3004 + 8 * 3, true)).toBe(1);
    expect(v.getUint32(0x3004, true)).toBe(2);
    expect(v.getUint32(0x3004 + 4, true)).toBe(16);
    expect(events).toEqual(["used", "used", "used"]);
    expect(q.hasAvailable()).toBe(false);
  });

  it("round-trips its cursors and addresses", () => {
    const a = setup();
    a.q.enable();
    a.desc(0, base + 0x4000, 4, 0, 0);
    a.publish(0);
    a.publish(0);
    a.q.pushUsed(a.q.pop()!.head, 0); // one of two consumed
    const saved = a.q.save();
    const b = setup();
    b.ram.u8.set(a.ram.u8);
    b.q.restore(saved, "test");
    expect(b.q.save()).toEqual(saved);
    expect(b.q.pop()?.head).toBe(0);
    expect(b.q.pop()).toBeNull();
    // A restored ready queue pointing outside RAM is reported, not trusted.
    const c = setup();
    c.q.restore({ ...saved, deviceLo: 0x1000 }, "test");
    expect(c.q.faulted).toBe(true);
    expect(c.events[0]).toMatch(/used ring/);
  });
});

describe("DescriptorChain", () => {
  it("reads and writes byte ranges across segment boundaries", () => {
    const ram = new Ram(1 << 16);
    ram.u8.set([1, 2, 3], 0x100);
    ram.u8.set([4, 5], 0x200);
    ram.u8.set([6, 7, 8, 9], 0x300);
    const chain = new DescriptorChain(
      ram,
      0,
      [
        { addr: base + 0x100, len: 3 },
        { addr: base + 0x200, len: 2 },
        { addr: base + 0x300, len: 4 },
      ],
      [
        { addr: base + 0x400, len: 2 },
        { addr: base + 0x500, len: 3 },
      ],
    );
    expect(chain.readableLength).toBe(9);
    expect(chain.writableLength).toBe(5);
    expect(Array.from(chain.read())).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(chain.read(2, 4))).toEqual([3, 4, 5, 6]);
    expect(Array.from(chain.read(7, 10))).toEqual([8, 9]);
    expect(chain.read(20, 1).length).toBe(0);
    ram.dirty.fetchAndClear();
    expect(chain.write(1, Uint8Array.of(0xa, 0xb, 0xc, 0xd, 0xe, 0xf))).toBe(4);
    expect(Array.from(ram.u8.subarray(0x400, 0x402))).toEqual([0, 0xa]);
    expect(Array.from(ram.u8.subarray(0x500, 0x503))).toEqual([0xb, 0xc, 0xd]);
    expect(Array.from(ram.dirty.fetchAndClear())).toEqual([0]);
  });
});
