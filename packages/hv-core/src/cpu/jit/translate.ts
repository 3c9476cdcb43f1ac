import { TLB_MASK } from "../mmu.js";

/** Words of code one region translates at most: bounds a compile's cost (a page holds 1024). */
const MAX_REGION_INSNS = 128;

const PAGE_WORDS = 1024;

/** The JavaScript source of one page's hot code and the entries it can be started at. */
export interface RegionSource {
  /**
   * Body of `function (lb, sb, room, s)`: runs from entry `s` at most `room` instructions, returns
   * those retired and leaves the next pc in `e.pc`.
   */
  body: string;
  /** Word offset in the page → entry id (1…), 0 where the region cannot be entered. */
  ids: Int16Array;
  /** Words translated (1) or not (0). */
  covered: Uint8Array;
}

/** How one instruction moves control (what exploring a page needs of it). */
interface Flow {
  /** It ends a straight-line run: a branch, JAL or JALR. */
  ends: boolean;
  /** Word offsets (maybe off the page) control may go to next, besides a dynamic JALR target. */
  targets: number[];
}

/**
 * Translates the hot code of one page, found by following control flow from `start` (a word
 * offset in the page at `pageWord`, virtual page `vpn`) to the words `follow` accepts, into one
 * JavaScript function: a loop over a switch on the entry id, so a jump to a known place in the
 * region costs a jump table, not a return to the hart's loop. Only what never traps on its own fast path is translated: integer ALU
 * ops, M, LUI/AUIPC, FENCE/FENCE.I, aligned loads and stores that hit the TLB, branches and jumps
 * with aligned targets. Anything else ends the run before it, and any case the fast path cannot do
 * (TLB miss, misaligned, MMIO) leaves the region before that instruction with `e.pc` at it, so the
 * interpreter runs it with every register and counter as it expects.
 *
 * Each entry checks that the run it starts (to its branch or jump) fits in `room` before it
 * executes anything, so a region never retires more than the hart's budget allows.
 *
 * Names the generated code uses (from the enclosing closure): x (registers), tags/tbase (TLB),
 * u8/u16/i32 (RAM), dirty (dirty bitmap words), code (per-page "holds translations"), cw
 * (a store hit code: invalidate), e (the cache: e.pc), ids (this region's entries),
 * mulh/mulhsu/mulhu/div/divu/rem/remu.
 */
export function translateRegion(
  words: Int32Array,
  pageWord: number,
  vpn: number,
  start: number,
  follow: (o: number) => boolean,
): RegionSource {
  const covered = new Uint8Array(PAGE_WORDS);
  const leader = new Uint8Array(PAGE_WORDS);
  const queued = new Uint8Array(PAGE_WORDS);
  const flows: (Flow | undefined)[] = new Array(PAGE_WORDS);
  const work: number[] = [];
  // Every place control can arrive at is an entry if its word is translated, but only code that
  // has run is followed: V8 optimizes a region with the type feedback its runs gave, and code that
  // never ran deoptimizes the whole region the first time it does.
  const addLeader = (o: number, go: boolean): void => {
    if (o < 0 || o >= PAGE_WORDS) return;
    leader[o] = 1;
    if (go && queued[o] === 0) {
      queued[o] = 1;
      work.push(o);
    }
  };
  addLeader(start, true);
  let insns = 0;
  // Depth first, so the code nearest the start is in before the cap.
  while (work.length > 0 && insns < MAX_REGION_INSNS) {
    for (let o = work.pop()!; o < PAGE_WORDS && covered[o] === 0 && insns < MAX_REGION_INSNS; o++) {
      const f = flowOf(words[pageWord + o]!, o);
      if (f === undefined) {
        // The interpreter runs this one and comes back after it.
        addLeader(o + 1, follow(o + 1));
        break;
      }
      covered[o] = 1;
      flows[o] = f;
      insns++;
      for (const t of f.targets) addLeader(t, follow(t));
      if (f.ends) break;
    }
  }

  // Entry ids are dense (1…) so V8 compiles the switch to a jump table.
  const ids = new Int16Array(PAGE_WORDS);
  let nextId = 1;
  for (let o = 0; o < PAGE_WORDS; o++) if (leader[o] && covered[o]) ids[o] = nextId++;
  // Instructions from each word to the end of its straight-line run (the room an entry needs).
  const runLen = new Int32Array(PAGE_WORDS + 1);
  for (let o = PAGE_WORDS - 1; o >= 0; o--)
    runLen[o] = covered[o] === 0 ? 0 : flows[o]!.ends ? 1 : 1 + runLen[o + 1]!;

  const base = (vpn << 12) | 0;
  const pcOf = (o: number): number => (base + o * 4) | 0;
  const goTo = (o: number): string =>
    o >= 0 && o < PAGE_WORDS && ids[o] !== 0
      ? `s = ${ids[o]}; continue loop;`
      : `pc = ${pcOf(o)}; break loop;`;
  const out: string[] = [];
  // Open: the previous word falls through into this one; seg: where the current entry started.
  let open = false;
  let seg = 0;
  for (let o = 0; o <= PAGE_WORDS; o++) {
    if (o === PAGE_WORDS || covered[o] === 0) {
      if (open) out.push(`pc = ${pcOf(o)}; n += ${o - seg}; break loop;`);
      open = false;
      continue;
    }
    if (ids[o] !== 0) {
      if (open) out.push(`n += ${o - seg};`);
      out.push(`case ${ids[o]}: if (n + ${runLen[o]} > room) { pc = ${pcOf(o)}; break loop; }`);
      seg = o;
    }
    const t = translateOne(words[pageWord + o]!, pcOf(o), o - seg, o, goTo, vpn)!;
    out.push(t.code);
    open = !t.ends;
  }
  const body = `let n = 0, pc = 0;
loop: for (;;) {
switch (s) {
${out.join("\n")}
default: break loop;
}
}
e.pc = pc; return n;`;
  return { body, ids, covered };
}

/** Control flow of one instruction, or undefined when it is not translated. */
function flowOf(insn: number, o: number): Flow | undefined {
  if (translateOne(insn, 0, 0, o, () => "", 0) === undefined) return undefined;
  const rd = (insn >> 7) & 31;
  switch ((insn >>> 2) & 31) {
    case 0x18:
      // A branch falls through when not taken: the next word continues the same run of code.
      return { ends: true, targets: [o + (branchOffset(insn) >> 2), o + 1] };
    case 0x1b:
      // A call's return point is where the callee's JALR comes back to.
      return { ends: true, targets: rd ? [o + (jalOffset(insn) >> 2), o + 1] : [o + (jalOffset(insn) >> 2)] };
    case 0x19:
      return { ends: true, targets: rd ? [o + 1] : [] };
    default:
      return { ends: false, targets: [] };
  }
}

const branchOffset = (insn: number): number =>
  ((insn >> 31) << 12) | ((insn & 0x80) << 4) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
const jalOffset = (insn: number): number =>
  ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);

interface Insn {
  code: string;
  /** Control does not fall through to the next word. */
  ends: boolean;
}

/** A register as an operand (x0 reads as the constant 0). */
const R = (r: number): string => (r === 0 ? "0" : `x[${r}]`);

/**
 * One instruction at pc `p`, the `j`th of its entry's run (word offset `o` in the page). `goTo`
 * jumps to a word offset of the page (inside the region or out of it).
 */
function translateOne(
  insn: number,
  p: number,
  j: number,
  o: number,
  goTo: (o: number) => string,
  vpn: number,
): Insn | undefined {
  if ((insn & 3) !== 3) return undefined;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const rs2 = (insn >> 20) & 31;
  const f3 = (insn >> 12) & 7;
  const f7 = insn >>> 25;
  const exitBefore = `{ pc = ${p}; n += ${j}; break loop; }`;
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
      // A store into a page with translations (this region's own, maybe) drops them: leave now.
      return {
        code: `{ const a = (${R(rs1)} + ${imm}) | 0; const v = a >>> 12; const t = sb + (v & ${TLB_MASK});
if (tags[t] !== v) ${exitBefore}
const o = tbase[t] + (a & 4095); ${write}
dirty[o >>> 17] |= 1 << ((o >>> 12) & 31);
if (code[o >>> 12] !== 0) { cw(o >>> 12); pc = ${next}; n += ${j + 1}; break loop; } }`,
        ends: false,
      };
    }
    case 0x18: {
      // BRANCH: taken jumps, not taken falls through to the next word (its own entry).
      const conds = ["===", "!==", "", "", "<", ">=", "<", ">="];
      const op = conds[f3]!;
      if (op === "") return undefined;
      const off = branchOffset(insn);
      // A misaligned taken branch traps: the interpreter does it.
      if ((p + off) & 3) return undefined;
      const u = f3 >= 6 ? " >>> 0" : "";
      return {
        code: `if (${R(rs1)}${u} ${op} ${R(rs2)}${u}) { n += ${j + 1}; ${goTo(o + (off >> 2))} }`,
        ends: false,
      };
    }
    case 0x1b: {
      // JAL
      const off = jalOffset(insn);
      if ((p + off) & 3) return undefined;
      return {
        code: `${rd ? `${R(rd)} = ${next};` : ""} n += ${j + 1}; ${goTo(o + (off >> 2))}`,
        ends: true,
      };
    }
    case 0x19: {
      // JALR: a target on this page goes on through the switch (its entry, or out when it has none).
      if (f3 !== 0) return undefined;
      return {
        code: `{ const t = (${R(rs1)} + ${insn >> 20}) & -2; if (t & 3) ${exitBefore}
${rd ? `${R(rd)} = ${next};` : ""} n += ${j + 1}; pc = t;
if (t >>> 12 === ${vpn >>> 0}) { s = ids[(t >>> 2) & 1023]; continue loop; } break loop; }`,
        ends: true,
      };
    }
    default:
      return undefined;
  }
}
