/**
 * A tiny RV32I assembler (two passes, labels) and ELF32 writer, so tests can build firmware-mode
 * guests without a cross toolchain. Only the instructions the test guests use.
 */
type Fixup = (at: number, labels: Map<string, number>) => number;

const r = (x: number) => x & 31;
const iType = (imm: number, rs1: number, f3: number, rd: number, op: number) =>
  (((imm & 0xfff) << 20) | (r(rs1) << 15) | (f3 << 12) | (r(rd) << 7) | op) >>> 0;
const sType = (imm: number, rs2: number, rs1: number, f3: number, op: number) =>
  ((((imm >> 5) & 0x7f) << 25) | (r(rs2) << 20) | (r(rs1) << 15) | (f3 << 12) | ((imm & 31) << 7) | op) >>> 0;
const bType = (off: number, rs2: number, rs1: number, f3: number) =>
  ((((off >> 12) & 1) << 31) |
    (((off >> 5) & 0x3f) << 25) |
    (r(rs2) << 20) |
    (r(rs1) << 15) |
    (f3 << 12) |
    (((off >> 1) & 0xf) << 8) |
    (((off >> 11) & 1) << 7) |
    0x63) >>>
  0;
const jType = (off: number, rd: number) =>
  ((((off >> 20) & 1) << 31) |
    (((off >> 1) & 0x3ff) << 21) |
    (((off >> 11) & 1) << 20) |
    (((off >> 12) & 0xff) << 12) |
    (r(rd) << 7) |
    0x6f) >>>
  0;

export const X = {
  zero: 0,
  ra: 1,
  t0: 5,
  t1: 6,
  t2: 7,
  s0: 8,
  s1: 9,
  a0: 10,
  a1: 11,
  s2: 18,
  s3: 19,
  t3: 28,
  t4: 29,
  t5: 30,
  t6: 31,
} as const;

export class Asm {
  private readonly items: (number | Fixup | Uint8Array)[] = [];
  private readonly labels = new Map<string, number>();
  private size = 0;

  constructor(readonly base: number) {}

  private emit(x: number | Fixup): this {
    this.items.push(x);
    this.size += 4;
    return this;
  }

  get pc(): number {
    return this.base + this.size;
  }

  label(name: string): this {
    this.labels.set(name, this.pc);
    return this;
  }

  bytes(data: Uint8Array): this {
    this.items.push(data);
    this.size += data.length;
    return this;
  }

  align(n: number): this {
    const pad = (n - (this.size % n)) % n;
    return pad > 0 ? this.bytes(new Uint8Array(pad)) : this;
  }

  lui(rd: number, imm20: number) {
    return this.emit((((imm20 & 0xfffff) << 12) | (r(rd) << 7) | 0x37) >>> 0);
  }
  addi(rd: number, rs1: number, imm: number) {
    return this.emit(iType(imm, rs1, 0, rd, 0x13));
  }
  andi(rd: number, rs1: number, imm: number) {
    return this.emit(iType(imm, rs1, 7, rd, 0x13));
  }
  slli(rd: number, rs1: number, sh: number) {
    return this.emit(iType(sh & 31, rs1, 1, rd, 0x13));
  }
  srl(rd: number, rs1: number, rs2: number) {
    return this.emit(((r(rs2) << 20) | (r(rs1) << 15) | (5 << 12) | (r(rd) << 7) | 0x33) >>> 0);
  }
  lbu(rd: number, rs1: number, off: number) {
    return this.emit(iType(off, rs1, 4, rd, 0x03));
  }
  lw(rd: number, rs1: number, off: number) {
    return this.emit(iType(off, rs1, 2, rd, 0x03));
  }
  sb(rs2: number, rs1: number, off: number) {
    return this.emit(sType(off, rs2, rs1, 0, 0x23));
  }
  sw(rs2: number, rs1: number, off: number) {
    return this.emit(sType(off, rs2, rs1, 2, 0x23));
  }
  private branch(f3: number, rs1: number, rs2: number, target: string) {
    return this.emit((at, labels) => bType(this.resolve(labels, target) - at, rs2, rs1, f3));
  }
  beq(rs1: number, rs2: number, target: string) {
    return this.branch(0, rs1, rs2, target);
  }
  bne(rs1: number, rs2: number, target: string) {
    return this.branch(1, rs1, rs2, target);
  }
  blt(rs1: number, rs2: number, target: string) {
    return this.branch(4, rs1, rs2, target);
  }
  bge(rs1: number, rs2: number, target: string) {
    return this.branch(5, rs1, rs2, target);
  }
  jal(rd: number, target: string) {
    return this.emit((at, labels) => jType(this.resolve(labels, target) - at, rd));
  }
  jalr(rd: number, rs1: number, off: number) {
    return this.emit(iType(off, rs1, 0, rd, 0x67));
  }
  /** rd = address of label (auipc + addi; the label must be within ±2 KiB). */
  la(rd: number, target: string) {
    this.emit(((r(rd) << 7) | 0x17) >>> 0); // auipc rd, 0
    const auipcAt = this.pc - 4;
    return this.emit((_at, labels) => iType(this.resolve(labels, target) - auipcAt, rd, 0, rd, 0x13));
  }
  csrrs(rd: number, csr: number, rs1: number) {
    return this.emit(iType(csr, rs1, 2, rd, 0x73));
  }
  wfi() {
    return this.emit(0x10500073);
  }

  private resolve(labels: Map<string, number>, name: string): number {
    const v = labels.get(name);
    if (v === undefined) throw new Error(`undefined label ${name}`);
    return v;
  }

  address(name: string): number {
    return this.resolve(this.labels, name);
  }

  assemble(): Uint8Array {
    const out = new Uint8Array(this.size);
    const dv = new DataView(out.buffer);
    let off = 0;
    for (const it of this.items) {
      if (it instanceof Uint8Array) {
        out.set(it, off);
        off += it.length;
        continue;
      }
      const word = typeof it === "number" ? it : it(this.base + off, this.labels);
      dv.setUint32(off, word >>> 0, true);
      off += 4;
    }
    return out;
  }
}

/** An ELF32 little-endian RISC-V executable: one PT_LOAD segment, a symbol table. */
export function elf32(
  entry: number,
  paddr: number,
  image: Uint8Array,
  symbols: Record<string, number>,
): Uint8Array {
  const names = Object.keys(symbols);
  const strtab: number[] = [0];
  const nameOff = names.map((n) => {
    const o = strtab.length;
    strtab.push(...Buffer.from(n), 0);
    return o;
  });
  const phoff = 52;
  const dataOff = phoff + 32;
  const symOff = (dataOff + image.length + 3) & ~3;
  const symSize = 16 * (names.length + 1);
  const strOff = symOff + symSize;
  const shoff = (strOff + strtab.length + 3) & ~3;
  const out = new Uint8Array(shoff + 3 * 40);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 243, true); // EM_RISCV
  dv.setUint32(20, 1, true);
  dv.setUint32(24, entry, true);
  dv.setUint32(28, phoff, true);
  dv.setUint32(32, shoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, 1, true);
  dv.setUint16(46, 40, true);
  dv.setUint16(48, 3, true);
  dv.setUint32(phoff, 1, true); // PT_LOAD
  dv.setUint32(phoff + 4, dataOff, true);
  dv.setUint32(phoff + 8, paddr, true);
  dv.setUint32(phoff + 12, paddr, true);
  dv.setUint32(phoff + 16, image.length, true);
  dv.setUint32(phoff + 20, image.length, true);
  dv.setUint32(phoff + 24, 7, true);
  out.set(image, dataOff);
  names.forEach((n, i) => {
    const s = symOff + 16 * (i + 1);
    dv.setUint32(s, nameOff[i]!, true);
    dv.setUint32(s + 4, symbols[n]!, true);
  });
  out.set(strtab, strOff);
  const sec = (i: number, type: number, off: number, size: number, link: number, entsize: number) => {
    const sh = shoff + 40 * i;
    dv.setUint32(sh + 4, type, true);
    dv.setUint32(sh + 16, off, true);
    dv.setUint32(sh + 20, size, true);
    dv.setUint32(sh + 24, link, true);
    dv.setUint32(sh + 36, entsize, true);
  };
  sec(1, 2, symOff, symSize, 2, 16); // .symtab → .strtab
  sec(2, 3, strOff, strtab.length, 0, 0);
  return out;
}
