import { SkiffError } from "@skiff/common";

/**
 * A tiny RV32IMA + Zicsr assembler for programs hv-core builds itself (the interpreter's warm-up
 * guest): instruction words appended in order, branch and jump targets by label, resolved by
 * `assemble`. Register operands are numbers (x0..x31).
 */

const OP_IMM = 0x13;
const OP = 0x33;
const LOAD = 0x03;
const STORE = 0x23;
const BRANCH = 0x63;
const SYSTEM = 0x73;

/** funct7 << 25 | funct3 << 12 of each OP (register-register) instruction. */
const OPS = {
  add: 0,
  sub: 0x20 << 25,
  sll: 1 << 12,
  slt: 2 << 12,
  sltu: 3 << 12,
  xor: 4 << 12,
  srl: 5 << 12,
  sra: (0x20 << 25) | (5 << 12),
  or: 6 << 12,
  and: 7 << 12,
  mul: 1 << 25,
  mulh: (1 << 25) | (1 << 12),
  mulhsu: (1 << 25) | (2 << 12),
  mulhu: (1 << 25) | (3 << 12),
  div: (1 << 25) | (4 << 12),
  divu: (1 << 25) | (5 << 12),
  rem: (1 << 25) | (6 << 12),
  remu: (1 << 25) | (7 << 12),
} as const;
export type RegOp = keyof typeof OPS;
export const REG_OPS = Object.keys(OPS) as RegOp[];

const IMM_OPS = { addi: 0, slti: 2, sltiu: 3, xori: 4, ori: 6, andi: 7 } as const;
export type ImmOp = keyof typeof IMM_OPS;
export const IMM_OPS_LIST = Object.keys(IMM_OPS) as ImmOp[];

const SHIFTS = { slli: 1 << 12, srli: 5 << 12, srai: (0x20 << 25) | (5 << 12) } as const;
export type ShiftOp = keyof typeof SHIFTS;

const LOADS = { lb: 0, lh: 1, lw: 2, lbu: 4, lhu: 5 } as const;
export type LoadOp = keyof typeof LOADS;
export const LOAD_OPS = Object.keys(LOADS) as LoadOp[];

const STORES = { sb: 0, sh: 1, sw: 2 } as const;
export type StoreOp = keyof typeof STORES;
export const STORE_OPS = Object.keys(STORES) as StoreOp[];

const BRANCHES = { beq: 0, bne: 1, blt: 4, bge: 5, bltu: 6, bgeu: 7 } as const;
export type BranchOp = keyof typeof BRANCHES;
export const BRANCH_OPS = Object.keys(BRANCHES) as BranchOp[];

/** funct5 of each AMO (LR and SC apart). */
const AMOS = {
  amoadd: 0x00,
  amoswap: 0x01,
  amoxor: 0x04,
  amoor: 0x08,
  amoand: 0x0c,
  amomin: 0x10,
  amomax: 0x14,
  amominu: 0x18,
  amomaxu: 0x1c,
} as const;
export type AmoOp = keyof typeof AMOS;
export const AMO_OPS = Object.keys(AMOS) as AmoOp[];

/** CSR instructions by funct3 (the immediate forms take a 5-bit zero-extended value for rs1). */
const CSR_OPS = { csrrw: 1, csrrs: 2, csrrc: 3, csrrwi: 5, csrrsi: 6, csrrci: 7 } as const;
export type CsrOp = keyof typeof CSR_OPS;

interface Fixup {
  at: number;
  label: string;
  kind: "branch" | "jal" | "pcrel";
}

export class Asm {
  private readonly words: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Fixup[] = [];

  /** `origin`: the address of the first word. */
  constructor(readonly origin: number) {}

  /** Address of the next word. */
  get here(): number {
    return (this.origin + 4 * this.words.length) | 0;
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new SkiffError("ASM_LABEL_TWICE", `asm: label ${name} defined twice`);
    this.labels.set(name, this.here);
    return this;
  }

  word(w: number): this {
    this.words.push(w | 0);
    return this;
  }

  op(op: RegOp, rd: number, rs1: number, rs2: number): this {
    return this.word(OPS[op] | (rs2 << 20) | (rs1 << 15) | (rd << 7) | OP);
  }

  imm(op: ImmOp, rd: number, rs1: number, imm: number): this {
    return this.word(iType(imm, rs1, IMM_OPS[op], rd, OP_IMM));
  }

  shift(op: ShiftOp, rd: number, rs1: number, shamt: number): this {
    return this.word(SHIFTS[op] | ((shamt & 31) << 20) | (rs1 << 15) | (rd << 7) | OP_IMM);
  }

  load(op: LoadOp, rd: number, rs1: number, offset: number): this {
    return this.word(iType(offset, rs1, LOADS[op], rd, LOAD));
  }

  store(op: StoreOp, rs2: number, rs1: number, offset: number): this {
    return this.word(
      (((offset >> 5) & 0x7f) << 25) |
        (rs2 << 20) |
        (rs1 << 15) |
        (STORES[op] << 12) |
        ((offset & 31) << 7) |
        STORE,
    );
  }

  branch(op: BranchOp, rs1: number, rs2: number, target: string): this {
    this.fixups.push({ at: this.words.length, label: target, kind: "branch" });
    return this.word((rs2 << 20) | (rs1 << 15) | (BRANCHES[op] << 12) | BRANCH);
  }

  jal(rd: number, target: string): this {
    this.fixups.push({ at: this.words.length, label: target, kind: "jal" });
    return this.word((rd << 7) | 0x6f);
  }

  jalr(rd: number, rs1: number, offset = 0): this {
    return this.word(iType(offset, rs1, 0, rd, 0x67));
  }

  lui(rd: number, value: number): this {
    return this.word((value & 0xfffff000) | (rd << 7) | 0x37);
  }

  /** rd = value (lui + addi, or addi alone for 12-bit values). */
  li(rd: number, value: number): this {
    const v = value | 0;
    if (v >= -2048 && v < 2048) return this.imm("addi", rd, 0, v);
    const lo = (v << 20) >> 20;
    this.lui(rd, (v - lo) | 0);
    return lo === 0 ? this : this.imm("addi", rd, rd, lo);
  }

  /** rd = the label's address (auipc + addi). */
  la(rd: number, target: string): this {
    this.fixups.push({ at: this.words.length, label: target, kind: "pcrel" });
    this.word((rd << 7) | 0x17);
    return this.word(iType(0, rd, 0, rd, OP_IMM));
  }

  csr(op: CsrOp, rd: number, csr: number, rs1OrImm: number): this {
    return this.word(
      ((csr & 0xfff) << 20) | ((rs1OrImm & 31) << 15) | (CSR_OPS[op] << 12) | (rd << 7) | SYSTEM,
    );
  }

  lr(rd: number, rs1: number): this {
    return this.word((0x02 << 27) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x2f);
  }

  sc(rd: number, rs2: number, rs1: number): this {
    return this.word((0x03 << 27) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x2f);
  }

  amo(op: AmoOp, rd: number, rs2: number, rs1: number): this {
    return this.word((AMOS[op] << 27) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x2f);
  }

  ecall(): this {
    return this.word(0x0000_0073);
  }
  ebreak(): this {
    return this.word(0x0010_0073);
  }
  sret(): this {
    return this.word(0x1020_0073);
  }
  mret(): this {
    return this.word(0x3020_0073);
  }
  wfi(): this {
    return this.word(0x1050_0073);
  }
  sfenceVma(): this {
    return this.word(0x1200_0073);
  }
  fence(): this {
    return this.word(0x0ff0_000f);
  }
  fenceI(): this {
    return this.word(0x0000_100f);
  }

  /** The program's words with every label resolved (little-endian bytes). */
  assemble(): Uint8Array {
    const out = Int32Array.from(this.words);
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined)
        throw new SkiffError("ASM_LABEL_UNDEFINED", `asm: undefined label ${f.label}`);
      const pc = this.origin + 4 * f.at;
      const off = (target - pc) | 0;
      if (f.kind === "branch") {
        if (off < -4096 || off >= 4096)
          throw new SkiffError("ASM_BRANCH_RANGE", `asm: branch to ${f.label} out of range`);
        out[f.at]! |= bType(off);
      } else if (f.kind === "jal") out[f.at]! |= jType(off);
      else {
        const lo = (off << 20) >> 20;
        out[f.at]! |= (off - lo) & 0xfffff000;
        out[f.at + 1]! |= (lo & 0xfff) << 20;
      }
    }
    return new Uint8Array(out.buffer);
  }
}

function iType(imm: number, rs1: number, f3: number, rd: number, opcode: number): number {
  return ((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode;
}

function bType(off: number): number {
  return (
    (((off >> 12) & 1) << 31) |
    (((off >> 5) & 0x3f) << 25) |
    (((off >> 1) & 0xf) << 8) |
    (((off >> 11) & 1) << 7)
  );
}

function jType(off: number): number {
  return (
    (((off >> 20) & 1) << 31) | (((off >> 1) & 0x3ff) << 21) | (((off >> 11) & 1) << 20) | (off & 0xff000)
  );
}
