import { TLB_MASK } from "../mmu.js";

/** Longest block, in instructions: bounds the interrupt latency a block adds. */
export const MAX_BLOCK_INSNS = 64;

/** The JavaScript source of one basic block and its length when it runs to its end. */
export interface BlockSource {
  /** Body of `function (lb, sb)`: returns instructions retired, leaves the next pc in `e.pc`. */
  body: string;
  /** Instructions retired when no early exit is taken (0: nothing here is translated). */
  length: number;
}

/**
 * Translates the instructions at `words[first..]` (virtual pc `pc`, up to the end of the page)
 * into straight-line JavaScript. Only what never traps on its own fast path is translated:
 * integer ALU ops, M, LUI/AUIPC, FENCE/FENCE.I, aligned loads and stores that hit the TLB,
 * branches and jumps with aligned targets. Anything else ends the block before it, and any case
 * the fast path cannot do (TLB miss, misaligned, MMIO) leaves the block before that instruction
 * with `e.pc` at it, so the interpreter runs it with every register and counter as it expects.
 *
 * Names the generated code uses (from the enclosing closure): x (registers), tags/tbase (TLB),
 * u8/u16/i32 (RAM), dirty (dirty bitmap words), code (per-page "holds translations"), cw
 * (a store hit code: invalidate), e (the cache: e.pc), mulh/mulhsu/mulhu/div/divu/rem/remu.
 */
export function translateBlock(words: Int32Array, first: number, pc: number): BlockSource {
  const out: string[] = [];
  const pageEnd = first + (1024 - (first & 1023));
  let k = 0;
  let p = pc | 0;
  let ended = false;
  for (let w = first; w < pageEnd && k < MAX_BLOCK_INSNS; w++) {
    const s = translateOne(words[w]!, p, k);
    if (s === undefined) break;
    out.push(s.code);
    k++;
    p = (p + 4) | 0;
    if (s.ends) {
      ended = true;
      break;
    }
  }
  if (!ended) out.push(`e.pc = ${p}; return ${k};`);
  return { body: out.join("\n"), length: k };
}

interface Insn {
  code: string;
  /** Control flow: the block ends after it (it sets e.pc and returns itself). */
  ends: boolean;
}

const R = (r: number): string => `x[${r}]`;

function translateOne(insn: number, p: number, k: number): Insn | undefined {
  if ((insn & 3) !== 3) return undefined;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const f3 = (insn >> 12) & 7;
  const f7 = insn >>> 25;
  const exitBefore = `{ e.pc = ${p}; return ${k}; }`;
  const next = (p + 4) | 0;
  const set = (expr: string): Insn => ({ code: rd === 0 ? "" : `${R(rd)} = ${expr};`, ends: false });
  switch ((insn >>> 2) & 31) {
    case 0x04: {
      // OP-IMM
      const imm = insn >> 20;
      const a = R(rs1);
      switch (f3) {
        case 0:
          return set(`${a} + ${imm}`);
        case 1:
          return f7 === 0 ? set(`${a} << ${rs2}`) : undefined;
        case 2:
          return set(`${a} < ${imm} ? 1 : 0`);
        case 3:
          return set(`${a} >>> 0 < ${imm >>> 0} ? 1 : 0`);
        case 4:
          return set(`${a} ^ ${imm}`);
        case 5:
          return f7 === 0 ? set(`${a} >>> ${rs2}`) : f7 === 0x20 ? set(`${a} >> ${rs2}`) : undefined;
        case 6:
          return set(`${a} | ${imm}`);
        default:
          return set(`${a} & ${imm}`);
      }
    }
    case 0x0c: {
      // OP
      const a = R(rs1);
      const b = R(rs2);
      if (f7 === 0) {
        const ops = [
          `${a} + ${b}`,
          `${a} << (${b} & 31)`,
          `${a} < ${b} ? 1 : 0`,
          `${a} >>> 0 < ${b} >>> 0 ? 1 : 0`,
          `${a} ^ ${b}`,
          `${a} >>> (${b} & 31)`,
          `${a} | ${b}`,
          `${a} & ${b}`,
        ];
        return set(ops[f3]!);
      }
      if (f7 === 0x20)
        return f3 === 0 ? set(`${a} - ${b}`) : f3 === 5 ? set(`${a} >> (${b} & 31)`) : undefined;
      if (f7 === 1) {
        const fns = ["", "mulh", "mulhsu", "mulhu", "div", "divu", "rem", "remu"];
        return set(f3 === 0 ? `Math.imul(${a}, ${b})` : `${fns[f3]}(${a}, ${b})`);
      }
      return undefined;
    }
    case 0x0d:
      // LUI
      return set(`${insn & 0xfffff000}`);
    case 0x05:
      // AUIPC
      return set(`${(p + (insn & 0xfffff000)) | 0}`);
    case 0x03:
      // FENCE and FENCE.I: every store already invalidates the translations of the page it hits.
      return f3 <= 1 ? { code: "", ends: false } : undefined;
    case 0x00: {
      // LOAD
      let read: string;
      if (f3 === 2) read = `if (o & 3) ${exitBefore} ${rd ? `${R(rd)} = i32[o >> 2];` : ""}`;
      else if (f3 === 1)
        read = `if (o & 1) ${exitBefore} ${rd ? `${R(rd)} = (u16[o >> 1] << 16) >> 16;` : ""}`;
      else if (f3 === 5) read = `if (o & 1) ${exitBefore} ${rd ? `${R(rd)} = u16[o >> 1];` : ""}`;
      else if (f3 === 0) read = rd ? `${R(rd)} = (u8[o] << 24) >> 24;` : "";
      else if (f3 === 4) read = rd ? `${R(rd)} = u8[o];` : "";
      else return undefined;
      return {
        code: `{ const a = (${R(rs1)} + ${insn >> 20}) | 0; const v = a >>> 12; const t = lb + (v & ${TLB_MASK});
if (tags[t] !== v) ${exitBefore}
const o = tbase[t] + (a & 4095); ${read} }`,
        ends: false,
      };
    }
    case 0x08: {
      // STORE
      const imm = ((insn >> 25) << 5) | rd;
      let write: string;
      if (f3 === 2) write = `if (o & 3) ${exitBefore} i32[o >> 2] = ${R(rs2)};`;
      else if (f3 === 1) write = `if (o & 1) ${exitBefore} u16[o >> 1] = ${R(rs2)};`;
      else if (f3 === 0) write = `u8[o] = ${R(rs2)};`;
      else return undefined;
      return {
        code: `{ const a = (${R(rs1)} + ${imm}) | 0; const v = a >>> 12; const t = sb + (v & ${TLB_MASK});
if (tags[t] !== v) ${exitBefore}
const o = tbase[t] + (a & 4095); ${write}
dirty[o >>> 17] |= 1 << ((o >>> 12) & 31);
if (code[o >>> 12] !== 0) { cw(o >>> 12); e.pc = ${next}; return ${k + 1}; } }`,
        ends: false,
      };
    }
    case 0x18: {
      // BRANCH
      const conds = ["===", "!==", "", "", "<", ">=", "<", ">="];
      const op = conds[f3]!;
      if (op === "") return undefined;
      const imm =
        ((insn >> 31) << 12) | ((insn & 0x80) << 4) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
      const target = (p + imm) | 0;
      // A misaligned taken branch traps: the interpreter does it.
      if (target & 3) return undefined;
      const u = f3 >= 6 ? " >>> 0" : "";
      return {
        code: `if (${R(rs1)}${u} ${op} ${R(rs2)}${u}) { e.pc = ${target}; return ${k + 1}; }
e.pc = ${next}; return ${k + 1};`,
        ends: true,
      };
    }
    case 0x1b: {
      // JAL
      const imm = ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
      const target = (p + imm) | 0;
      if (target & 3) return undefined;
      return { code: `${rd ? `${R(rd)} = ${next};` : ""} e.pc = ${target}; return ${k + 1};`, ends: true };
    }
    case 0x19: {
      // JALR
      if (f3 !== 0) return undefined;
      return {
        code: `{ const t = (${R(rs1)} + ${insn >> 20}) & -2; if (t & 3) ${exitBefore}
${rd ? `${R(rd)} = ${next};` : ""} e.pc = t; return ${k + 1}; }`,
        ends: true,
      };
    }
    default:
      return undefined;
  }
}
