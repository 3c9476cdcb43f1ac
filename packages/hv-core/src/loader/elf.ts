import { SkiffError } from "@skiff/common";
import type { Ram } from "../memory/ram.js";

/** An ELF32 little-endian RISC-V executable as the firmware-mode loader needs it. */
export interface ElfImage {
  entry: number;
  /** PT_LOAD segments at their physical addresses; bytes past `data` up to `memSize` are zero (bss). */
  segments: { paddr: number; data: Uint8Array; memSize: number }[];
  /** Symbol name → value, from .symtab (empty when stripped). */
  symbols: Map<string, number>;
}

const EM_RISCV = 243;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;

function invalid(message: string): never {
  throw new SkiffError("ELF_INVALID", `invalid ELF: ${message}`);
}

/** Parses an ELF32 RISC-V executable. Malformed input is a SkiffError (ELF_INVALID/ELF_UNSUPPORTED). */
export function parseElf(file: Uint8Array): ElfImage {
  if (file.length < 52) invalid("file shorter than an ELF header");
  if (file[0] !== 0x7f || file[1] !== 0x45 || file[2] !== 0x4c || file[3] !== 0x46) invalid("bad magic");
  if (file[4] !== 1) throw new SkiffError("ELF_UNSUPPORTED", "only 32-bit ELF (ELFCLASS32) is supported");
  if (file[5] !== 1) throw new SkiffError("ELF_UNSUPPORTED", "only little-endian ELF is supported");
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const type = u16(16);
  if (type !== 2 && type !== 3) throw new SkiffError("ELF_UNSUPPORTED", `ELF type ${type} is not executable`);
  if (u16(18) !== EM_RISCV) throw new SkiffError("ELF_UNSUPPORTED", `ELF machine ${u16(18)} is not RISC-V`);
  const entry = u32(24);
  const phoff = u32(28);
  const shoff = u32(32);
  const phentsize = u16(42);
  const phnum = u16(44);
  const shentsize = u16(46);
  const shnum = u16(48);

  const within = (off: number, len: number) => off >= 0 && len >= 0 && off + len <= file.length;
  if (phnum > 0 && (phentsize < 32 || !within(phoff, phentsize * phnum)))
    invalid("program headers out of file");
  const segments: ElfImage["segments"] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (u32(ph) !== PT_LOAD) continue;
    const offset = u32(ph + 4);
    const paddr = u32(ph + 12);
    const filesz = u32(ph + 16);
    const memsz = u32(ph + 20);
    if (!within(offset, filesz)) invalid(`segment ${i} data out of file`);
    if (memsz < filesz) invalid(`segment ${i} memsz < filesz`);
    if (paddr + memsz > 2 ** 32) invalid(`segment ${i} wraps the address space`);
    if (memsz === 0) continue;
    segments.push({ paddr, data: file.subarray(offset, offset + filesz), memSize: memsz });
  }
  if (segments.length === 0) invalid("no loadable segments");

  const symbols = new Map<string, number>();
  if (shnum > 0 && shentsize >= 40 && within(shoff, shentsize * shnum)) {
    for (let i = 0; i < shnum; i++) {
      const sh = shoff + i * shentsize;
      if (u32(sh + 4) !== SHT_SYMTAB) continue;
      const symOff = u32(sh + 16);
      const symSize = u32(sh + 20);
      const link = u32(sh + 24);
      if (link >= shnum || !within(symOff, symSize)) invalid("symbol table out of file");
      const strSh = shoff + link * shentsize;
      const strOff = u32(strSh + 16);
      const strSize = u32(strSh + 20);
      if (!within(strOff, strSize)) invalid("string table out of file");
      const strtab = file.subarray(strOff, strOff + strSize);
      const decoder = new TextDecoder();
      for (let s = symOff; s + 16 <= symOff + symSize; s += 16) {
        const nameOff = u32(s);
        if (nameOff === 0 || nameOff >= strtab.length) continue;
        let end = nameOff;
        while (end < strtab.length && strtab[end] !== 0) end++;
        const name = decoder.decode(strtab.subarray(nameOff, end));
        if (!symbols.has(name)) symbols.set(name, u32(s + 4));
      }
    }
  }
  return { entry, segments, symbols };
}

/** Copies every segment into RAM (zeroing bss). A segment outside RAM is ELF_OUTSIDE_RAM. */
export function loadElf(elf: ElfImage, ram: Ram): void {
  for (const seg of elf.segments) {
    if (!ram.contains(seg.paddr, seg.memSize)) {
      throw new SkiffError(
        "ELF_OUTSIDE_RAM",
        `ELF segment 0x${seg.paddr.toString(16)}+0x${seg.memSize.toString(16)} lies outside guest RAM`,
      );
    }
    const off = seg.paddr - ram.base;
    ram.u8.set(seg.data, off);
    ram.u8.fill(0, off + seg.data.length, off + seg.memSize);
    ram.dirty.markRange(off, seg.memSize);
  }
}
