import type { Ram } from "../../memory/ram.js";
import type { Mmu } from "../mmu.js";
import { div, divu, mulh, mulhsu, mulhu, rem, remu } from "../muldiv.js";
import { translateRegion } from "./translate.js";

/** A translated region: `(loadBank, storeBank, room, entry)` → instructions retired, next pc in `pc`. */
type RegionFn = (lb: number, sb: number, room: number, s: number) => number;

/**
 * The translated code of one RAM page, as seen at one virtual page: regions, each the code
 * reachable from one hot start, so code that gets hot later is a region of its own and the
 * regions V8 has already optimized are not compiled again.
 */
interface PageCode {
  /** Virtual page it was translated at (AUIPC, links and jump targets depend on it). */
  vpn: number;
  regions: RegionFn[];
  /** Word offset → 1 + index in `regions` of the region entered there (0: none). */
  region: Uint8Array;
  /** Word offset → entry id in that region. */
  entry: Int16Array;
  /** Word offsets that did not translate as a start: not tried again. */
  tried: Uint8Array;
  /** Characters of generated source (the cache's memory estimate). */
  size: number;
}

/**
 * Interpreted runs of a word before a region is translated from it (the default;
 * JitOptions.hotAfter). A region's compile costs V8 milliseconds of CPU (on its own threads, beside
 * the guest's) and saves ~0.1-0.2 us a run once optimised, so it pays back after tens of
 * thousands of runs; until V8 optimises it, a new region runs slower than the interpreter. Broad
 * code such as the guest kernel's network stack runs each path only thousands of times a second:
 * at 4,096 a TCP stream's first seconds went to compiling ~70 regions a second (guest→host 34-47
 * Mbit/s; 75 with no translation at all), at 32,768 to the stream (71 Mbit/s); the heat counters
 * are 16-bit. Loops that run millions of times are translated within milliseconds either way
 * (docs/benchmarks.md, "Block translation").
 */
export const DEFAULT_JIT_HOT_AFTER = 32_768;

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
  /** Interpreted runs of a word before code is translated from it (default DEFAULT_JIT_HOT_AFTER). */
  readonly hotAfter?: number;
  /** Instructions retired since reset before translation starts (default DEFAULT_JIT_START_AFTER). */
  readonly startAfter?: number;
}
/**
 * The cache's bound per hart (one hart per VM): past either figure the whole cache is dropped and
 * rebuilt from hot code. V8 keeps each region's source beside its bytecode and machine code, so the
 * source held is the measure.
 */
export const MAX_REGIONS = 4096;
export const MAX_SOURCE_CHARS = 8 << 20;
/** Regions on one page at most: past it, newly hot code on the page stays interpreted. */
const MAX_PAGE_REGIONS = 16;
/**
 * Heat counters are a direct-mapped table over the RAM word: the interpreter asks at every
 * instruction, so the answer for cold code must be a typed-array load, not a Map lookup.
 * Colliding words share a counter (a heuristic).
 */
const HEAT_BITS = 16;
/**
 * A word is warm, and the code from it joins a region, after hotAfter / 2^WARM_SHIFT interpreted
 * runs: a branch taken rarely stays out (the interpreter runs it) rather than deoptimize the region.
 */
const WARM_SHIFT = 3;
const PAGE_WORDS = 1024;

/**
 * Hot guest code as JavaScript functions: regions of a RAM page's code, each what is reachable on
 * the page from where the interpreter found it hot, so a loop, its branches and the calls it makes
 * on the page run inside one function without returning to the hart's loop. Translation mode
 * needs no key: loads and stores go through the TLB banks the hart passes in at each call
 * (privilege, MPRV, satp, SUM/MXR all live there), and everything privileged (CSRs, xRET, ECALL,
 * SFENCE.VMA, AMOs) is left to the interpreter. Fetch translation is the hart's: a region is
 * entered only from a page the fetch TLB maps, and never leaves that page.
 *
 * Pages holding translations are flagged in `ram.dirty.code`; every RAM write (CPU fast paths,
 * slow paths, A/D updates, DMA) checks the flag and calls `invalidatePage`, so self-modifying
 * code and a disk read over code both drop the stale regions. Never part of a snapshot.
 */
export class BlockCache {
  /** Next pc after `exec` retired something. */
  pc = 0;
  /** RAM page → its translations. */
  private readonly pages: (PageCode | undefined)[];
  private regionCount = 0;
  private readonly heat = new Uint16Array(1 << HEAT_BITS);
  /** Interpreted runs after which a word's code joins the region being translated. */
  private readonly warmAfter: number;
  private readonly compile: (body: string, ids: Int16Array) => RegionFn;
  private sourceChars = 0;
  /** Regions translated (each a compile), and instructions retired inside them, since creation. */
  translated = 0;
  retiredInBlocks = 0;
  /** Pages whose translations a write dropped. */
  invalidations = 0;

  constructor(
    private readonly ram: Ram,
    x: Int32Array,
    mmu: Mmu,
    private readonly hotAfter = DEFAULT_JIT_HOT_AFTER,
    /** The hart runs translations once it has retired this many instructions since reset. */
    readonly startAfter = DEFAULT_JIT_START_AFTER,
  ) {
    this.pages = new Array(ram.dirty.code.length).fill(undefined);
    this.warmAfter = Math.max(1, hotAfter >> WARM_SHIFT);
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
    const names = [...Object.keys(env), "ids"];
    const values = Object.values(env);
    this.compile = (body, ids) =>
      new Function(...names, `"use strict"; return function region(lb, sb, room, s) {\n${body}\n};`)(
        ...values,
        ids,
      ) as RegionFn;
    ram.dirty.onCodeWrite = (page) => this.invalidatePage(page);
  }

  /**
   * Runs the translated code at RAM word `word` (virtual pc `pc`) for at most `room` instructions,
   * staying on its page. Returns the instructions retired (the next pc is in `this.pc`), or 0 when
   * the interpreter must run the instruction at `pc` itself.
   */
  exec(word: number, pc: number, room: number, loadBank: number, storeBank: number): number {
    const page = word >>> 10;
    const o = word & (PAGE_WORDS - 1);
    let p = this.pages[page];
    if (p !== undefined && p.vpn === pc >>> 12) {
      const r = p.region[o]!;
      if (r !== 0) {
        const k = p.regions[r - 1]!(loadBank, storeBank, room, p.entry[o]!);
        this.retiredInBlocks += k;
        return k;
      }
      if (p.tried[o] !== 0) return 0;
    }
    const hs = word & ((1 << HEAT_BITS) - 1);
    const h = this.heat[hs]!;
    if (h < this.hotAfter) {
      this.heat[hs] = h + 1;
      return 0;
    }
    p = this.translate(page, pc >>> 12, o, p);
    const r = p.region[o]!;
    if (r === 0) return 0;
    const k = p.regions[r - 1]!(loadBank, storeBank, room, p.entry[o]!);
    this.retiredInBlocks += k;
    return k;
  }

  /** Translates a region of `page` from word offset `start` (beside the page's others at `vpn`). */
  private translate(page: number, vpn: number, start: number, p: PageCode | undefined): PageCode {
    if (this.regionCount >= MAX_REGIONS || this.sourceChars >= MAX_SOURCE_CHARS) {
      this.flush();
      p = undefined;
    }
    if (p !== undefined && p.vpn !== vpn) {
      // The same code seen at another virtual page: links and AUIPC differ, start over.
      this.drop(page);
      p = undefined;
    }
    if (p === undefined) {
      p = {
        vpn,
        regions: [],
        region: new Uint8Array(PAGE_WORDS),
        entry: new Int16Array(PAGE_WORDS),
        tried: new Uint8Array(PAGE_WORDS),
        size: 0,
      };
      this.pages[page] = p;
      this.ram.dirty.code[page] = 1;
    }
    if (p.regions.length >= MAX_PAGE_REGIONS) {
      p.tried[start] = 1;
      return p;
    }
    const heat = this.heat;
    const region = p.region;
    const warmAt = this.warmAfter;
    const first = page * PAGE_WORDS;
    const src = translateRegion(
      this.ram.i32,
      first,
      vpn,
      start,
      // Code another region enters is left to it: each word is compiled about once per page.
      (w) => region[w] === 0 && heat[(first + w) & ((1 << HEAT_BITS) - 1)]! >= warmAt,
    );
    if (src.ids[start] === 0) {
      p.tried[start] = 1;
      return p;
    }
    p.regions.push(this.compile(src.body, src.ids));
    const r = p.regions.length;
    for (let w = 0; w < PAGE_WORDS; w++) {
      // Words another region already enters keep that region (V8 may have optimized it by now).
      if (src.ids[w] !== 0 && p.region[w] === 0) {
        p.region[w] = r;
        p.entry[w] = src.ids[w]!;
      }
      // Translated words count afresh: those the interpreter still runs often (it resumes there
      // after the region left for a TLB miss) become a start of their own, not those its loop had
      // run as often as the start before the region existed.
      if (src.covered[w] !== 0) heat[(first + w) & ((1 << HEAT_BITS) - 1)] = 0;
    }
    p.size += src.body.length;
    this.sourceChars += src.body.length;
    this.regionCount++;
    this.translated++;
    return p;
  }

  /** Something wrote to RAM page `page`: its translations are stale. */
  invalidatePage(page: number): void {
    this.invalidations++;
    this.drop(page);
    // Rewritten code starts cold again (a loop that patches itself is not recompiled each round).
    const h = (page * PAGE_WORDS) & ((1 << HEAT_BITS) - 1);
    this.heat.fill(0, h, h + PAGE_WORDS);
  }

  private drop(page: number): void {
    const p = this.pages[page];
    if (p !== undefined) {
      this.sourceChars -= p.size;
      this.regionCount -= p.regions.length;
      this.pages[page] = undefined;
    }
    this.ram.dirty.code[page] = 0;
  }

  /** Drops every translation (a restore rewrote RAM, or the cache is full). */
  flush(): void {
    for (let page = 0; page < this.pages.length; page++) if (this.pages[page] !== undefined) this.drop(page);
    this.heat.fill(0);
  }

  /** Regions held now, an estimate of their memory (generated source; V8's code is similar). */
  stats(): { blocks: number; sourceBytes: number; translated: number; invalidations: number } {
    return {
      blocks: this.regionCount,
      sourceBytes: this.sourceChars,
      translated: this.translated,
      invalidations: this.invalidations,
    };
  }
}
