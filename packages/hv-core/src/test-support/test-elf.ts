/** Builds small ELF32 RISC-V executables for tests (no cross toolchain needed). */
export interface TestElfSpec {
  entry: number;
  segments: { paddr: number; data: Uint8Array; memSize?: number }[];
  symbols?: Record<string, number>;
}

export function buildTestElf(spec: TestElfSpec): Uint8Array {
  const names = Object.keys(spec.symbols ?? {});
  const strtab: number[] = [0];
  const nameOffsets = names.map((n) => {
    const off = strtab.length;
    for (const c of new TextEncoder().encode(n)) strtab.push(c);
    strtab.push(0);
    return off;
  });
  const phoff = 52;
  let dataOff = phoff + 32 * spec.segments.length;
  const segOffsets = spec.segments.map((s) => {
    const o = dataOff;
    dataOff += s.data.length;
    return o;
  });
  const symOff = dataOff;
  const symSize = 16 * (names.length + 1);
  const strOff = symOff + symSize;
  const shoff = (strOff + strtab.length + 3) & ~3;
  const total = shoff + 3 * 40;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, 243, true);
  dv.setUint32(20, 1, true);
  dv.setUint32(24, spec.entry, true);
  dv.setUint32(28, phoff, true);
  dv.setUint32(32, shoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, spec.segments.length, true);
  dv.setUint16(46, 40, true);
  dv.setUint16(48, 3, true);
  spec.segments.forEach((s, i) => {
    const ph = phoff + 32 * i;
    dv.setUint32(ph, 1, true);
    dv.setUint32(ph + 4, segOffsets[i]!, true);
    dv.setUint32(ph + 8, s.paddr, true);
    dv.setUint32(ph + 12, s.paddr, true);
    dv.setUint32(ph + 16, s.data.length, true);
    dv.setUint32(ph + 20, s.memSize ?? s.data.length, true);
    dv.setUint32(ph + 24, 7, true);
    out.set(s.data, segOffsets[i]!);
  });
  names.forEach((n, i) => {
    const s = symOff + 16 * (i + 1);
    dv.setUint32(s, nameOffsets[i]!, true);
    dv.setUint32(s + 4, spec.symbols![n]!, true);
  });
  out.set(strtab, strOff);
  // section 1: .symtab (link 2), section 2: .strtab
  dv.setUint32(shoff + 40 + 4, 2, true);
  dv.setUint32(shoff + 40 + 16, symOff, true);
  dv.setUint32(shoff + 40 + 20, symSize, true);
  dv.setUint32(shoff + 40 + 24, 2, true);
  dv.setUint32(shoff + 80 + 4, 3, true);
  dv.setUint32(shoff + 80 + 16, strOff, true);
  dv.setUint32(shoff + 80 + 20, strtab.length, true);
  return out;
}

function store(f3: number, rs2: number, rs1: number, imm: number): number {
  return (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | 0x23;
}

/** Encodes the RV32IA instructions used by the tests' tiny programs. */
export const rv = {
  addi: (rd: number, rs1: number, imm: number) => ((imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13,
  lui: (rd: number, imm20: number) => ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37,
  lw: (rd: number, rs1: number, imm: number) =>
    ((imm & 0xfff) << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x03,
  sw: (rs2: number, rs1: number, imm: number) => store(2, rs2, rs1, imm),
  sh: (rs2: number, rs1: number, imm: number) => store(1, rs2, rs1, imm),
  sb: (rs2: number, rs1: number, imm: number) => store(0, rs2, rs1, imm),
  /** AMO*.W by funct5 (0 add, 1 swap, 4 xor, 8 or, 0xc and, 0x10 min, 0x14 max, 0x18 minu, 0x1c maxu). */
  amo: (funct5: number, rd: number, rs1: number, rs2: number) =>
    (funct5 << 27) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x2f,
  lr: (rd: number, rs1: number) => (2 << 27) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x2f,
  sc: (rd: number, rs1: number, rs2: number) =>
    (3 << 27) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x2f,
  jal: (rd: number, off: number) =>
    (((off >> 20) & 1) << 31) |
    (((off >> 1) & 0x3ff) << 21) |
    (((off >> 11) & 1) << 20) |
    (((off >> 12) & 0xff) << 12) |
    (rd << 7) |
    0x6f,
  ecall: () => 0x73,
  wfi: () => 0x10500073,
};

export function words(...ws: number[]): Uint8Array {
  const b = new Uint8Array(ws.length * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < ws.length; i++) dv.setUint32(i * 4, ws[i]! >>> 0, true);
  return b;
}

/** li rd, value as lui + addi. */
export function li(rd: number, value: number): number[] {
  const lo = (value << 20) >> 20;
  const hi = ((value - lo) >>> 12) & 0xfffff;
  return [rv.lui(rd, hi), rv.addi(rd, rd, lo)];
}

export const csr = {
  rw: (rd: number, addr: number, rs1: number) => (addr << 20) | (rs1 << 15) | (1 << 12) | (rd << 7) | 0x73,
  rs: (rd: number, addr: number, rs1: number) => (addr << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x73,
  rsi: (rd: number, addr: number, imm: number) => (addr << 20) | (imm << 15) | (6 << 12) | (rd << 7) | 0x73,
};

/** A RISC-V Linux Image (64-byte header, "RSC\x05") whose code is `code` (first word jumps past the header). */
export function buildTestImage(code: number[], imageSize = 0): Uint8Array {
  const body = words(rv.jal(0, 64), ...new Array(15).fill(0), ...code);
  const dv = new DataView(body.buffer);
  dv.setUint32(8, 0x400000, true);
  dv.setUint32(16, Math.max(imageSize, body.length), true);
  body.set(new TextEncoder().encode("RISCV"), 48);
  dv.setUint32(56, 0x05435352, true);
  return body;
}
