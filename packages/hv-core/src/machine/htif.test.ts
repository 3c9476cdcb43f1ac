import { describe, expect, it } from "vitest";
import { Ram } from "../memory/ram.js";
import { Htif } from "./htif.js";

const TOHOST = 0x8000_1000;
const FROMHOST = 0x8000_1040;

function setup() {
  const ram = new Ram(0x10000);
  const out: number[] = [];
  const htif = new Htif(ram, TOHOST, FROMHOST, (b) => out.push(...b));
  return { ram, out, htif };
}

describe("HTIF", () => {
  it("is quiet while tohost is zero", () => {
    expect(setup().htif.poll()).toBeUndefined();
  });

  it("reports pass (1) and fail (test<<1|1)", () => {
    const { ram, htif } = setup();
    ram.writeU32(TOHOST, 1);
    expect(htif.poll()).toEqual({ kind: "exit", code: 0 });
    ram.writeU32(TOHOST, (5 << 1) | 1);
    expect(htif.poll()).toEqual({ kind: "exit", code: 5 });
  });

  it("serves console putchar and acknowledges through fromhost", () => {
    const { ram, out, htif } = setup();
    ram.writeU32(TOHOST, 0x41);
    ram.writeU32(TOHOST + 4, 0x01010000);
    expect(htif.poll()).toBeUndefined();
    expect(out).toEqual([0x41]);
    expect(ram.readU32(TOHOST)).toBe(0);
    expect(ram.readU32(FROMHOST + 4)).toBe(0x01010000);
  });

  it("serves write and exit syscalls through magic_mem", () => {
    const { ram, out, htif } = setup();
    const magic = 0x8000_2000;
    ram.write(0x8000_3000, new TextEncoder().encode("hi"));
    ram.writeU32(magic, 64);
    ram.writeU32(magic + 8, 1);
    ram.writeU32(magic + 16, 0x8000_3000);
    ram.writeU32(magic + 24, 2);
    ram.writeU32(TOHOST, magic);
    expect(htif.poll()).toBeUndefined();
    expect(new TextDecoder().decode(Uint8Array.from(out))).toBe("hi");
    expect(ram.readU32(magic)).toBe(2);
    expect(ram.readU32(FROMHOST)).toBe(1);
    ram.writeU32(magic, 93);
    ram.writeU32(magic + 8, 3);
    ram.writeU32(TOHOST, magic);
    expect(htif.poll()).toEqual({ kind: "exit", code: 3 });
  });

  it("ignores hostile pointers", () => {
    const { ram, htif } = setup();
    ram.writeU32(TOHOST, 0x10);
    expect(htif.poll()).toBeUndefined();
    ram.writeU32(TOHOST, 0x8000_fff0);
    expect(htif.poll()).toBeUndefined();
  });
});
