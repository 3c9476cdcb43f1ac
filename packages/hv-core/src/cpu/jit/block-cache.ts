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

/**
 * Executions of a block before it is translated (the default; JitOptions.hotAfter). A compile
 * costs what thousands of interpreted instructions do, and code run a few thousand times stays in
 * V8's unoptimised tiers once translated: at 256 a Linux boot took 3.0x the interpreter's CPU, at
 * 4,096 1.2x, while loops that run millions of times are translated within milliseconds either
 * way (docs/benchmarks.md, "Block translation").
 */
export const DEFAULT_JIT_HOT_AFTER = 4096;

/**
 * Instructions a hart retires after reset before it translates anything (the default;
 * JitOptions.startAfter). A Linux boot runs ~15-20 M instructions through thousands of blocks that
 * run a few thousand times each: translated, it took ~1.45x the interpreter's CPU (compiles, V8's
 * tiering, the heat counting), so boots stay interpreted and only code hot after them is
 * translated. A restored or migrated machine keeps its count and translates at once.
 */
export const DEFAULT_JIT_START_AFTER = 1 << 25;

/** Block translation's settings (`jit: true` takes the defaults). */
export interface JitOptions {
  /** Executions of a block before it is translated (default DEFAULT_JIT_HOT_AFTER). */
  readonly hotAfter?: number;
  /** Instructions retired since reset before translation starts (default DEFAULT_JIT_START_AFTER). */
  readonly startAfter?: number;
}
/**
 * The cache's bound per hart (one hart per VM): past either figure the whole cache is dropped and
 * rebuilt from hot code. V8 keeps each block's source beside its bytecode and machine code, so the
 * source held is the measure; a Linux boot holds ~450 blocks, ~380 KiB.
 */
export const MAX_BLOCKS = 8192;
export const MAX_SOURCE_CHARS = 8 << 20;
/**
 * Heat counters and the block index are direct-mapped tables over the RAM word: the interpreter
 * asks at every instruction, so the answer for cold code must be a typed-array load, not a Map
 * lookup. Colliding words share a counter (a heuristic) or evict each other's index slot (the Map
 * still has the block).
 */
const HEAT_BITS = 16;
const SLOT_BITS = 14;

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
  private readonly heat = new Uint16Array(1 << HEAT_BITS);
  private readonly slotWord = new Int32Array(1 << SLOT_BITS).fill(-1);
  private readonly slotBlock: (Block | undefined)[] = new Array(1 << SLOT_BITS).fill(undefined);
  /** RAM page → word indices of the blocks that start on it. */
  private readonly pageBlocks = new Map<number, number[]>();
  private readonly compile: (body: string) => BlockFn;
  private sourceChars = 0;
  /** Blocks translated, and instructions retired inside blocks, since creation (bench, tests). */
  translated = 0;
  retiredInBlocks = 0;
  /** Pages whose translations a write dropped. */
  invalidations = 0;

  constructor(
    private readonly ram: Ram,
    x: Int32Array,
    mmu: Mmu,
    private readonly hotAfter = DEFAULT_JIT_HOT_AFTER,
    /** The hart runs blocks once it has retired this many instructions since reset. */
    readonly startAfter = DEFAULT_JIT_START_AFTER,
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
    let b = this.find(word, pc);
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

  /** The block at `word`, once that code is hot (translating it then); undefined while cold. */
  private find(word: number, pc: number): Block | undefined {
    const slot = word & ((1 << SLOT_BITS) - 1);
    if (this.slotWord[slot] === word) {
      const b = this.slotBlock[slot]!;
      if (b.valid && b.vpc === pc) return b;
    }
    const hs = word & ((1 << HEAT_BITS) - 1);
    const h = this.heat[hs]!;
    if (h < this.hotAfter) {
      this.heat[hs] = h + 1;
      return undefined;
    }
    let b = this.blocks.get(word);
    if (b === undefined || b.vpc !== pc) b = this.translate(word, pc);
    this.slotWord[slot] = word;
    this.slotBlock[slot] = b;
    return b;
  }

  /** The block at `next`, remembered on `from` so a loop or a fall-through skips the lookup. */
  private link(from: Block, word: number, next: number): Block | undefined {
    const b = this.find(word, next);
    if (b !== undefined) {
      from.next = next;
      from.nextBlock = b;
    }
    return b;
  }

  private translate(word: number, pc: number): Block {
    if (this.blocks.size >= MAX_BLOCKS || this.sourceChars >= MAX_SOURCE_CHARS) this.flush();
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
      drop(old);
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
    this.invalidations++;
    const list = this.pageBlocks.get(page);
    if (list) {
      for (const w of list) {
        const b = this.blocks.get(w);
        if (b) {
          this.sourceChars -= b.size;
          drop(b);
        }
        this.blocks.delete(w);
        // The index slot would keep the dropped block's code alive until the word collides.
        const slot = w & ((1 << SLOT_BITS) - 1);
        if (this.slotWord[slot] === w) {
          this.slotWord[slot] = -1;
          this.slotBlock[slot] = undefined;
        }
      }
    }
    this.pageBlocks.delete(page);
    this.ram.dirty.code[page] = 0;
    // Rewritten code starts cold again (a loop that patches itself is not recompiled each round).
    this.heat.fill(0, (page << 10) & ((1 << HEAT_BITS) - 1), ((page << 10) & ((1 << HEAT_BITS) - 1)) + 1024);
  }

  /** Drops every translation (a restore rewrote RAM, or the cache is full). */
  flush(): void {
    for (const page of this.pageBlocks.keys()) this.ram.dirty.code[page] = 0;
    for (const b of this.blocks.values()) drop(b);
    this.pageBlocks.clear();
    this.blocks.clear();
    this.heat.fill(0);
    this.slotWord.fill(-1);
    this.slotBlock.fill(undefined);
    this.sourceChars = 0;
  }

  /** Blocks held now and an estimate of their memory (generated source; V8's code is similar). */
  stats(): { blocks: number; sourceBytes: number; translated: number; invalidations: number } {
    return {
      blocks: this.blocks.size,
      sourceBytes: this.sourceChars,
      translated: this.translated,
      invalidations: this.invalidations,
    };
  }
}

/** Invalidates a block; its link goes too, so a chain of dropped blocks is not kept alive. */
function drop(b: Block): void {
  b.valid = false;
  b.next = -1;
  b.nextBlock = undefined;
}
