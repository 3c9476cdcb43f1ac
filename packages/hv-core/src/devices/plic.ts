import { SkiffError } from "@skiff/common";
import { type InterruptTarget, IRQ } from "../irq.js";
import { stateNumber, stateWords } from "../snapshot/fields.js";
import { requireStateVersion, type Snapshottable, type StateRecord } from "../snapshot/state.js";
import { extractLanes, mergeLanes } from "./lanes.js";
import type { AccessSize, MmioDevice } from "./mmio.js";

/** SiFive PLIC memory map (RISC-V PLIC spec 1.0.0, "Memory Map"). */
export const PLIC_PRIORITY = 0x000000;
export const PLIC_PENDING = 0x001000;
export const PLIC_ENABLE = 0x002000;
export const PLIC_ENABLE_STRIDE = 0x80;
export const PLIC_CONTEXT = 0x200000;
export const PLIC_CONTEXT_STRIDE = 0x1000;
export const PLIC_SIZE = 0x4000000;

/** Priorities and thresholds are WARL; 3 bits (1..7 active, 0 = never) as on SiFive parts. */
const PRIORITY_MASK = 7;
/** Context 0 is hart 0's M-mode (MEIP), context 1 its S-mode (SEIP). */
const CONTEXTS = 2;
const CONTEXT_IRQ = [IRQ.MEI, IRQ.SEI] as const;

/** The PLIC's saved state (version 1): registers and gateway bits, one bit or word per source. */
export type PlicState = {
  sources: number;
  priority: Uint32Array;
  level: Uint32Array;
  pending: Uint32Array;
  inService: Uint32Array;
  enable: Uint32Array;
  threshold: Uint32Array;
};

/** Checks a saved PLIC state against a PLIC with `sources` sources. */
export function readPlicState(s: StateRecord, version: number, sources: number): PlicState {
  requireStateVersion("plic", version, [1]);
  const saved = stateNumber(s, "plic", "sources");
  if (saved !== sources) {
    throw new SkiffError(
      "SNAPSHOT_STATE_INVALID",
      `plic: snapshot has ${saved} sources, this machine ${sources}`,
    );
  }
  const words = Math.ceil(sources / 32);
  return {
    sources,
    priority: stateWords(s, "plic", "priority", sources),
    level: stateWords(s, "plic", "level", words),
    pending: stateWords(s, "plic", "pending", words),
    inService: stateWords(s, "plic", "inService", words),
    enable: stateWords(s, "plic", "enable", CONTEXTS * words),
    threshold: stateWords(s, "plic", "threshold", CONTEXTS),
  };
}

/**
 * Platform-level interrupt controller with level-triggered gateways: the first assertion of a
 * source's line becomes a pending request; the gateway forwards no further request for that source
 * until the claimant completes it, and on completion re-arms from the line's current level.
 */
export class Plic implements MmioDevice, Snapshottable<PlicState> {
  readonly name = "plic";
  readonly stateVersion = 1;
  readonly sources: number;
  private readonly words: number;
  private readonly priority: Uint32Array;
  /** Current input line levels. */
  private readonly level: Uint32Array;
  private readonly pending: Uint32Array;
  /** Claimed and not yet completed (the gateway holds further requests). */
  private readonly inService: Uint32Array;
  /** Per-context enable bits, context c at [c*words, (c+1)*words). */
  private readonly enable: Uint32Array;
  private readonly threshold = new Uint32Array(CONTEXTS);
  /** The level each context's external interrupt line was last driven to. */
  private readonly eip = new Uint8Array(CONTEXTS);
  /** Bits of the last word that name real sources (source 0 does not exist). */
  private readonly validMask: Uint32Array;

  constructor(
    private readonly hart: InterruptTarget,
    sources = 32,
  ) {
    if (!Number.isInteger(sources) || sources < 2 || sources > 1024)
      throw new RangeError(`PLIC sources must be 2..1024, got ${sources}`);
    this.sources = sources;
    this.words = Math.ceil(sources / 32);
    this.priority = new Uint32Array(sources);
    this.level = new Uint32Array(this.words);
    this.pending = new Uint32Array(this.words);
    this.inService = new Uint32Array(this.words);
    this.enable = new Uint32Array(CONTEXTS * this.words);
    this.validMask = new Uint32Array(this.words);
    for (let id = 1; id < sources; id++) this.validMask[id >>> 5] |= 1 << (id & 31);
  }

  /** Drives source `irq`'s input line. Called on every device interrupt change; allocates nothing. */
  setLevel(irq: number, level: boolean): void {
    if (irq <= 0 || irq >= this.sources) return;
    const w = irq >>> 5;
    const bit = 1 << (irq & 31);
    if (level) {
      if ((this.level[w]! & bit) !== 0) return;
      this.level[w] |= bit;
      if (((this.pending[w]! | this.inService[w]!) & bit) === 0) {
        this.pending[w] |= bit;
        this.updateOutputs();
      }
    } else {
      // The request already forwarded stays pending until claimed (the gateway latched it).
      this.level[w] &= ~bit;
    }
  }

  read(offset: number, size: AccessSize): number {
    const reg = offset & ~3;
    return extractLanes(this.readReg(reg), offset, size);
  }

  write(offset: number, size: AccessSize, value: number): void {
    const reg = offset & ~3;
    const word = size === 4 ? value >>> 0 : mergeLanes(this.peekReg(reg), offset, size, value);
    if (reg < PLIC_PENDING) {
      const id = reg >>> 2;
      if (id > 0 && id < this.sources) {
        this.priority[id] = word & PRIORITY_MASK;
        this.updateOutputs();
      }
      return;
    }
    if (reg >= PLIC_ENABLE && reg < PLIC_ENABLE + CONTEXTS * PLIC_ENABLE_STRIDE) {
      const ctx = (reg - PLIC_ENABLE) >>> 7;
      const w = ((reg - PLIC_ENABLE) & (PLIC_ENABLE_STRIDE - 1)) >>> 2;
      if (w < this.words) {
        this.enable[ctx * this.words + w] = word & this.validMask[w]!;
        this.updateOutputs();
      }
      return;
    }
    if (reg >= PLIC_CONTEXT && reg < PLIC_CONTEXT + CONTEXTS * PLIC_CONTEXT_STRIDE) {
      const ctx = (reg - PLIC_CONTEXT) >>> 12;
      const r = (reg - PLIC_CONTEXT) & (PLIC_CONTEXT_STRIDE - 1);
      if (r === 0) {
        this.threshold[ctx] = word & PRIORITY_MASK;
        this.updateOutputs();
      } else if (r === 4) {
        this.complete(ctx, word);
      }
    }
    // Pending bits are read-only; everything else is reserved.
  }

  /** A register's value without side effects (claim reads as 0 here). */
  private peekReg(reg: number): number {
    return reg >= PLIC_CONTEXT && (reg & (PLIC_CONTEXT_STRIDE - 1)) === 4 ? 0 : this.readReg(reg);
  }

  private readReg(reg: number): number {
    if (reg < PLIC_PENDING) {
      const id = reg >>> 2;
      return id < this.sources ? this.priority[id]! : 0;
    }
    if (reg < PLIC_ENABLE) {
      const w = (reg - PLIC_PENDING) >>> 2;
      return w < this.words ? this.pending[w]! >>> 0 : 0;
    }
    if (reg < PLIC_ENABLE + CONTEXTS * PLIC_ENABLE_STRIDE) {
      const ctx = (reg - PLIC_ENABLE) >>> 7;
      const w = ((reg - PLIC_ENABLE) & (PLIC_ENABLE_STRIDE - 1)) >>> 2;
      return w < this.words ? this.enable[ctx * this.words + w]! >>> 0 : 0;
    }
    if (reg >= PLIC_CONTEXT && reg < PLIC_CONTEXT + CONTEXTS * PLIC_CONTEXT_STRIDE) {
      const ctx = (reg - PLIC_CONTEXT) >>> 12;
      const r = (reg - PLIC_CONTEXT) & (PLIC_CONTEXT_STRIDE - 1);
      if (r === 0) return this.threshold[ctx]!;
      if (r === 4) return this.claim(ctx);
    }
    return 0;
  }

  /**
   * The highest-priority pending source enabled for `ctx` (ties to the lowest id), or 0. Claims
   * ignore the threshold (PLIC spec: "the claim operation is not affected by the setting of the
   * priority threshold register"); priority 0 means never.
   */
  private best(ctx: number, aboveThreshold: boolean): number {
    let best = 0;
    let bestPriority = aboveThreshold ? this.threshold[ctx]! : 0;
    const base = ctx * this.words;
    for (let w = 0; w < this.words; w++) {
      let bits = this.pending[w]! & this.enable[base + w]!;
      while (bits !== 0) {
        const low = bits & -bits;
        const id = w * 32 + (31 - Math.clz32(low));
        const p = this.priority[id]!;
        if (p > bestPriority) {
          best = id;
          bestPriority = p;
        }
        bits ^= low;
      }
    }
    return best;
  }

  private claim(ctx: number): number {
    const id = this.best(ctx, false);
    if (id !== 0) {
      const w = id >>> 5;
      const bit = 1 << (id & 31);
      this.pending[w] &= ~bit;
      this.inService[w] |= bit;
      this.updateOutputs();
    }
    return id;
  }

  /** A completion for a source not enabled for this context is silently ignored (PLIC spec). */
  private complete(ctx: number, id: number): void {
    if (id <= 0 || id >= this.sources) return;
    const w = id >>> 5;
    const bit = 1 << (id & 31);
    if ((this.enable[ctx * this.words + w]! & bit) === 0) return;
    if ((this.inService[w]! & bit) === 0) return;
    this.inService[w] &= ~bit;
    if ((this.level[w]! & bit) !== 0) this.pending[w] |= bit;
    this.updateOutputs();
  }

  private updateOutputs(): void {
    for (let ctx = 0; ctx < CONTEXTS; ctx++) {
      const level = this.best(ctx, true) !== 0 ? 1 : 0;
      if (level !== this.eip[ctx]) {
        this.eip[ctx] = level;
        this.hart.setInterruptPending(CONTEXT_IRQ[ctx]!, level === 1);
      }
    }
  }

  save(): PlicState {
    return {
      sources: this.sources,
      priority: this.priority.slice(),
      level: this.level.slice(),
      pending: this.pending.slice(),
      inService: this.inService.slice(),
      enable: this.enable.slice(),
      threshold: this.threshold.slice(),
    };
  }

  restore(record: StateRecord, version: number): void {
    const s = readPlicState(record, version, this.sources);
    this.priority.set(s.priority);
    this.level.set(s.level);
    this.pending.set(s.pending);
    this.inService.set(s.inService);
    this.enable.set(s.enable);
    this.threshold.set(s.threshold);
    // Drive both lines explicitly: the hart may have been restored with other mip bits.
    for (let ctx = 0; ctx < CONTEXTS; ctx++) {
      this.eip[ctx] = this.best(ctx, true) !== 0 ? 1 : 0;
      this.hart.setInterruptPending(CONTEXT_IRQ[ctx]!, this.eip[ctx] === 1);
    }
  }
}
