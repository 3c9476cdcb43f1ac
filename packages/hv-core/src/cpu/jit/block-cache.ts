import type { Ram } from "../../memory/ram.js";
import type { Mmu } from "../mmu.js";
import { div, divu, mulh, mulhsu, mulhu, rem, remu } from "../muldiv.js";
import { translateBlock } from "./translate.js";

/** A translated block: `run(loadBank, storeBank)` returns instructions retired, next pc in `pc`. */
type BlockFn = (lb: number, sb: number) => number;

interface Block {
  /** Virtual pc the block was translated at (AUIPC, links and branch targets depend on it). */
  vpc: number;
  /** Instructions when it runs to its end; 0 marks "nothing here translates". */
  length: number;
  run: BlockFn;
  /** Characters of generated source (the cache's memory estimate). */
  size: number;
  /** False once invalidated (links to it from other blocks then miss). */
  valid: boolean;
  /** The last successor taken (pc, block): a one-entry chain. */
  next: number;
  nextBlock: Block | undefined;
}

/** Executions of a block start before it is translated: code run once is not worth a compile. */
const HOT = 8;
/** Translations kept per hart; past this the whole cache is dropped and rebuilt from hot code. */
export const MAX_BLOCKS = 8192;
const MAX_HEAT_ENTRIES = 1 << 16;

const NONE: BlockFn = () => 0;

/**
 * Hot guest code as JavaScript functions, keyed by the physical word where the block starts.
 * Translation mode needs no key: loads and stores go through the TLB banks the hart passes in at
 * each call (privilege, MPRV, satp, SUM/MXR all live there), and everything privileged (CSRs,
 * xRET, ECALL, SFENCE.VMA, AMOs) is left to the interpreter. Fetch translation is the hart's:
 * a block is entered only from a page the fetch TLB maps, and never crosses that page.
 *
 * Pages holding translations are flagged in `ram.dirty.code`; every RAM write (CPU fast paths,
 * slow paths, A/D updates, DMA) checks the flag and calls `invalidatePage`, so self-modifying
 * code and a disk read over code both drop the stale blocks. Never part of a snapshot.
 */
export class BlockCache {
  /** Next pc after `exec` retired something. */
  pc = 0;
  private readonly blocks = new Map<number, Block>();
  private readonly heat = new Map<number, number>();
  /** RAM page → word indices of the blocks that start on it. */
  private readonly pageBlocks = new Map<number, number[]>();
  private readonly compile: (body: string) => BlockFn;
  private sourceChars = 0;
  /** Blocks translated, and instructions retired inside blocks, since creation (bench, tests). */
  translated = 0;
  retiredInBlocks = 0;

  constructor(
    private readonly ram: Ram,
    x: Int32Array,
    mmu: Mmu,
  ) {
    const env = {
      x,
      tags: mmu.tags,
      tbase: mmu.base,
      u8: ram.u8,
      u16: ram.u16,
      i32: ram.i32,
      dirty: ram.dirty.words,
      code: ram.dirty.code,
      cw: (page: number) => this.invalidatePage(page),
      e: this,
      mulh,
      mulhsu,
      mulhu,
      div,
      divu,
      rem,
      remu,
    };
    const names = Object.keys(env);
    const values = Object.values(env);
    this.compile = (body) =>
      new Function(...names, `"use strict"; return function block(lb, sb) {\n${body}\n};`)(
        ...values,
      ) as BlockFn;
    ram.dirty.onCodeWrite = (page) => this.invalidatePage(page);
  }

  /**
   * Runs the block at RAM word `word` (virtual pc `pc`), then the blocks it leads to on the same
   * page (the fetch translation the hart did covers them; blocks change no state the hart's loop
   * looks at between instructions), as long as they fit in `room` instructions. Returns the
   * instructions retired (the next pc is in `this.pc`), or 0 when the interpreter must run the
   * instruction at `pc` itself.
   */
  exec(word: number, pc: number, room: number, loadBank: number, storeBank: number): number {
    const pageWord = word - ((pc & 0xfff) >>> 2);
    const page = pc >>> 12;
    let b = this.lookup(word, pc);
    let total = 0;
    while (b !== undefined && b.length !== 0 && b.length <= room - total) {
      const k = b.run(loadBank, storeBank);
      total += k;
      const next = this.pc;
      // k 0: it stopped before its first instruction, which is the interpreter's to run.
      if (k === 0 || next >>> 12 !== page) break;
      b =
        b.next === next && b.nextBlock!.valid
          ? b.nextBlock
          : this.link(b, pageWord + ((next & 0xfff) >>> 2), next);
    }
    this.retiredInBlocks += total;
    return total;
  }

  private lookup(word: number, pc: number): Block | undefined {
    const b = this.blocks.get(word);
    return b !== undefined && b.vpc === pc ? b : this.miss(word, pc);
  }

  /** The block at `next`, remembered on `from` so a loop or a fall-through skips the lookup. */
  private link(from: Block, word: number, next: number): Block | undefined {
    const b = this.lookup(word, next);
    if (b !== undefined) {
      from.next = next;
      from.nextBlock = b;
    }
    return b;
  }

  private miss(word: number, pc: number): Block | undefined {
    const h = (this.heat.get(word) ?? 0) + 1;
    if (h < HOT) {
      if (this.heat.size >= MAX_HEAT_ENTRIES) this.heat.clear();
      this.heat.set(word, h);
      return undefined;
    }
    this.heat.delete(word);
    if (this.blocks.size >= MAX_BLOCKS) this.flush();
    const src = translateBlock(this.ram.i32, word, pc);
    const b: Block = {
      vpc: pc,
      length: src.length,
      run: src.length ? this.compile(src.body) : NONE,
      size: src.body.length,
      valid: true,
      next: -1,
      nextBlock: undefined,
    };
    this.translated++;
    this.sourceChars += src.body.length;
    const old = this.blocks.get(word);
    if (old) {
      this.sourceChars -= old.size;
      old.valid = false;
    }
    this.blocks.set(word, b);
    const page = word >>> 10;
    const list = this.pageBlocks.get(page);
    if (list) list.push(word);
    else this.pageBlocks.set(page, [word]);
    this.ram.dirty.code[page] = 1;
    return b;
  }

  /** Something wrote to RAM page `page`: its translations are stale. */
  invalidatePage(page: number): void {
    const list = this.pageBlocks.get(page);
    if (list) {
      for (const w of list) {
        const b = this.blocks.get(w);
        if (b) {
          this.sourceChars -= b.size;
          b.valid = false;
        }
        this.blocks.delete(w);
      }
    }
    this.pageBlocks.delete(page);
    this.ram.dirty.code[page] = 0;
  }

  /** Drops every translation (a restore rewrote RAM, or the cache is full). */
  flush(): void {
    for (const page of this.pageBlocks.keys()) this.ram.dirty.code[page] = 0;
    for (const b of this.blocks.values()) b.valid = false;
    this.pageBlocks.clear();
    this.blocks.clear();
    this.heat.clear();
    this.sourceChars = 0;
  }

  /** Blocks held now and an estimate of their memory (generated source; V8's code is similar). */
  stats(): { blocks: number; sourceBytes: number; translated: number } {
    return { blocks: this.blocks.size, sourceBytes: this.sourceChars, translated: this.translated };
  }
}
