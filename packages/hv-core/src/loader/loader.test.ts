import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SkiffError } from "@skiff/common";
import { describe, expect, it } from "vitest";
import { Ram } from "../memory/ram.js";
import { buildTestElf, words } from "../test-support/test-elf.js";
import { loadElf, parseElf } from "./elf.js";
import { KERNEL_LOAD_ADDRESS, loadLinuxImage, parseLinuxImage } from "./linux-image.js";
import { openPayload } from "./payload.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SkiffError) return err.code;
    throw err;
  }
  return undefined;
}

const elf = buildTestElf({
  entry: 0x8000_0000,
  segments: [
    { paddr: 0x8000_0000, data: words(0x11111111, 0x22222222) },
    { paddr: 0x8000_2000, data: words(0x33), memSize: 0x100 },
  ],
  symbols: { tohost: 0x8000_1000, fromhost: 0x8000_1008, begin_signature: 0x8000_2000 },
});

describe("ELF loader", () => {
  it("parses entry, PT_LOAD segments and symbols, and loads them with zeroed bss", () => {
    const img = parseElf(elf);
    expect(img.entry).toBe(0x8000_0000);
    expect(img.segments.map((s) => [s.paddr, s.data.length, s.memSize])).toEqual([
      [0x8000_0000, 8, 8],
      [0x8000_2000, 4, 0x100],
    ]);
    expect(img.symbols.get("tohost")).toBe(0x8000_1000);
    expect(img.symbols.get("fromhost")).toBe(0x8000_1008);
    const ram = new Ram(0x10000);
    ram.u8.fill(0xee);
    loadElf(img, ram);
    expect(ram.readU32(0x8000_0004)).toBe(0x22222222);
    expect(ram.readU32(0x8000_2000)).toBe(0x33);
    expect(ram.readU32(0x8000_20fc)).toBe(0);
    expect(ram.readU32(0x8000_2100)).toBe(0xeeeeeeee);
  });

  it("rejects segments outside RAM", () => {
    const bad = buildTestElf({ entry: 0, segments: [{ paddr: 0x1000, data: words(1) }] });
    expect(codeOf(() => loadElf(parseElf(bad), new Ram(4096)))).toBe("ELF_OUTSIDE_RAM");
  });

  it("rejects malformed and foreign files with a code, never a crash", () => {
    expect(codeOf(() => parseElf(new Uint8Array(0)))).toBe("ELF_INVALID");
    expect(
      codeOf(() => parseElf(new TextEncoder().encode("#!/bin/sh\necho hi there, not an elf file......."))),
    ).toBe("ELF_INVALID");
    const e64 = elf.slice();
    e64[4] = 2;
    expect(codeOf(() => parseElf(e64))).toBe("ELF_UNSUPPORTED");
    const x86 = elf.slice();
    x86[18] = 3;
    expect(codeOf(() => parseElf(x86))).toBe("ELF_UNSUPPORTED");
    for (let cut = 0; cut < elf.length; cut += 5) {
      const code = codeOf(() => parseElf(elf.subarray(0, cut)));
      if (code !== undefined) expect(code).toBe("ELF_INVALID");
    }
    // random corruption: only coded errors or success
    let seed = 1;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      const bad = elf.slice();
      for (let k = 0; k < 4; k++) bad[rand() % bad.length] = rand() & 0xff;
      const code = codeOf(() => {
        const img = parseElf(bad);
        loadElf(img, new Ram(0x10000));
      });
      if (code !== undefined) expect(code).toMatch(/^ELF_/);
    }
  });

  const isaDir = new URL("../../../../guests/isa-tests/build/", import.meta.url);
  it.skipIf(!existsSync(isaDir))("parses the built ISA test ELFs", () => {
    for (const f of readdirSync(isaDir).filter((n) => n.endsWith(".elf"))) {
      const img = parseElf(readFileSync(new URL(f, isaDir)));
      expect(img.symbols.has("tohost")).toBe(true);
    }
  });
});

function fakeImage(size: number, imageSize: number): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x12345678, true);
  dv.setUint32(8, 0x400000, true);
  dv.setUint32(16, imageSize, true);
  b.set(new TextEncoder().encode("RISCV"), 48);
  dv.setUint32(56, 0x05435352, true);
  return b;
}

describe("Linux Image loader", () => {
  it("checks the header and loads at 0x80400000", () => {
    const img = parseLinuxImage(fakeImage(8192, 0x10000));
    expect(img.loadAddress).toBe(KERNEL_LOAD_ADDRESS);
    expect(img.imageSize).toBe(0x10000);
    const ram = new Ram(8 << 20);
    loadLinuxImage(img, ram);
    expect(ram.readU32(KERNEL_LOAD_ADDRESS)).toBe(0x12345678);
  });

  it("loads from a file, read straight into RAM, as from its bytes", () => {
    const dir = mkdtempSync(join(tmpdir(), "hv-loader-"));
    try {
      const bytes = fakeImage(3 * 4096 + 100, 0x10000);
      bytes.fill(0xa5, 64);
      writeFileSync(join(dir, "Image"), bytes);
      writeFileSync(join(dir, "short"), bytes.subarray(0, 63));
      const file = openPayload({ path: join(dir, "Image") });
      const img = parseLinuxImage(file);
      expect(img.imageSize).toBe(0x10000);
      const ram = new Ram(8 << 20);
      loadLinuxImage(img, ram);
      file.close();
      const off = KERNEL_LOAD_ADDRESS - ram.base;
      expect(ram.u8.subarray(off, off + bytes.length)).toEqual(bytes);
      expect(ram.dirty.isDirty((off + bytes.length - 1) >>> 12)).toBe(true);
      const short = openPayload({ path: join(dir, "short") });
      expect(codeOf(() => parseLinuxImage(short))).toBe("IMAGE_INVALID");
      short.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects non-images and images that don't fit", () => {
    expect(codeOf(() => parseLinuxImage(new Uint8Array(10)))).toBe("IMAGE_INVALID");
    expect(codeOf(() => parseLinuxImage(elf))).toBe("IMAGE_INVALID");
    expect(codeOf(() => loadLinuxImage(parseLinuxImage(fakeImage(4096, 5 << 20)), new Ram(8 << 20)))).toBe(
      "IMAGE_TOO_LARGE",
    );
  });
});
