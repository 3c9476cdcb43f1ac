import type { Ram } from "../memory/ram.js";
import { ACCESS_FAULT, Access, type AccessKind, PAGE_FAULT, Priv } from "./causes.js";
import type { Pmp } from "./pmp.js";

/** Sv32 PTE bits (Privileged spec §4.3.1). */
const PTE_V = 1 << 0;
const PTE_R = 1 << 1;
const PTE_W = 1 << 2;
const PTE_X = 1 << 3;
const PTE_U = 1 << 4;
const PTE_A = 1 << 6;
const PTE_D = 1 << 7;

const S_LOAD = 1 << Access.Load;
const S_STORE = 1 << Access.Store;

export const TLB_BITS = 10;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;

/** Translation succeeded: the physical address is in `Mmu.paddr`. */
export const TRANSLATE_OK = -1;

/**
 * Sv32 address translation with a software TLB. The TLB caches only translations to RAM, already
 * checked for one privilege level and access kind, so the hart's hot path is a tag compare:
 * entry (bank, kind, vpn & MASK) with bank = effective privilege (0, 1 or 3) maps a virtual page
 * number to its page's byte offset in RAM. Store entries exist only once the PTE's D bit is set,
 * load/fetch entries once A is set, so hardware A/D updates never get skipped.
 * Any change to satp, SUM, MXR, the PMP rules or a SFENCE.VMA flushes everything (ASIDs are not
 * used for tagging). PMP is checked here too (§3.7): the walk's PTE accesses as S-mode accesses,
 * the final physical access for its privilege; only pages PMP treats alike throughout enter the
 * TLB, so a TLB hit needs no PMP check.
 */
export class Mmu {
  readonly tags = new Int32Array(4 * 3 * TLB_SIZE).fill(-1);
  readonly base = new Int32Array(4 * 3 * TLB_SIZE);
  satp = 0;
  sum = false;
  mxr = false;
  /** Physical address of the last successful translation (may exceed 32 bits: Sv32 has 34). */
  paddr = 0;

  constructor(
    private readonly ram: Ram,
    private readonly pmp: Pmp,
  ) {}

  static index(priv: number, kind: AccessKind, vpn: number): number {
    return ((priv * 3 + kind) << TLB_BITS) | (vpn & TLB_MASK);
  }

  flush(): void {
    this.tags.fill(-1);
  }

  /**
   * Translates `vaddr` for an access of `kind` and `size` bytes (all on one page) at privilege
   * `priv` (already adjusted for MPRV). Returns TRANSLATE_OK with `paddr` set, or the exception
   * cause to raise (tval = vaddr).
   */
  translate(vaddr: number, kind: AccessKind, priv: number, size: number): number {
    const va = vaddr >>> 0;
    if (priv === Priv.M || this.satp >= 0) return this.finish(va, va, kind, priv, size);
    const ram = this.ram;
    // What PMP allows S everywhere (the usual case): then the PTE accesses need no check.
    const open = this.pmp.everywhere[Priv.S]!;
    let table = (this.satp & 0x3fffff) * 4096;
    let level = 1;
    let pteAddr = 0;
    let pte = 0;
    for (;;) {
      pteAddr = table + (level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff) * 4;
      if (!ram.contains(pteAddr, 4)) return ACCESS_FAULT[kind]!;
      if (!(open & S_LOAD) && !this.pmp.allows(pteAddr, 4, Access.Load, Priv.S)) return ACCESS_FAULT[kind]!;
      pte = ram.i32[(pteAddr - ram.base) >>> 2]!;
      if (!(pte & PTE_V) || (!(pte & PTE_R) && pte & PTE_W)) return PAGE_FAULT[kind]!;
      if (pte & (PTE_R | PTE_X)) break;
      if (level === 0) return PAGE_FAULT[kind]!;
      level = 0;
      table = (pte >>> 10) * 4096;
    }
    if (pte & PTE_U) {
      if (priv === Priv.S && (kind === Access.Fetch || !this.sum)) return PAGE_FAULT[kind]!;
    } else if (priv === Priv.U) {
      return PAGE_FAULT[kind]!;
    }
    const allowed =
      kind === Access.Fetch
        ? pte & PTE_X
        : kind === Access.Load
          ? pte & PTE_R || (this.mxr && pte & PTE_X)
          : pte & PTE_W;
    if (!allowed) return PAGE_FAULT[kind]!;
    const ppn = pte >>> 10;
    if (level === 1 && (ppn & 0x3ff) !== 0) return PAGE_FAULT[kind]!; // misaligned superpage
    if (!(pte & PTE_A) || (kind === Access.Store && !(pte & PTE_D))) {
      // The A/D update is a store to the PTE, checked as such (§4.3.2 step 7).
      if (!(open & S_STORE) && !this.pmp.allows(pteAddr, 4, Access.Store, Priv.S)) return ACCESS_FAULT[kind]!;
      const updated = pte | PTE_A | (kind === Access.Store ? PTE_D : 0);
      const off = pteAddr - ram.base;
      ram.i32[off >>> 2] = updated;
      ram.dirty.mark(off >>> 12);
    }
    const paddr = level === 1 ? (ppn >>> 10) * 0x40_0000 + (va & 0x3f_ffff) : ppn * 4096 + (va & 0xfff);
    if (paddr > 0xffff_ffff) return ACCESS_FAULT[kind]!;
    return this.finish(va, paddr, kind, priv, size);
  }

  /** The PMP check of the physical access, then the TLB fill when the page allows it throughout. */
  private finish(va: number, paddr: number, kind: AccessKind, priv: number, size: number): number {
    const pmp = this.pmp;
    const open = (pmp.everywhere[priv]! >>> kind) & 1;
    if (!open && !pmp.allows(paddr, size, kind, priv)) return ACCESS_FAULT[kind]!;
    this.paddr = paddr;
    const ram = this.ram;
    const page = paddr - (paddr & 0xfff);
    if (page < ram.base || page + 4096 > ram.base + ram.size) return TRANSLATE_OK;
    if (!open && !pmp.pageAllows((page - ram.base) / 4096, kind, priv)) return TRANSLATE_OK;
    const vpn = va >>> 12;
    const i = Mmu.index(priv, kind, vpn);
    this.tags[i] = vpn;
    this.base[i] = page - ram.base;
    return TRANSLATE_OK;
  }
}
