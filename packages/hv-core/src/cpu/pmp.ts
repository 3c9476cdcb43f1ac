import { Access, type AccessKind, Priv } from "./causes.js";

/**
 * Physical memory protection (Privileged spec v1.12 §3.7) with 16 entries and a 4-byte grain
 * (G = 0, as QEMU's virt machine): pmpcfg0..3 hold the 16 8-bit configs, pmpaddr0..15 bits 33:2
 * of the addresses. pmpcfg4..15 and pmpaddr16..63 exist and read zero (entries not implemented,
 * WARL). The reserved R=0 W=1 combination keeps the entry's previous config (its byte of the
 * write is ignored), as do writes to a locked entry.
 */
export const PMP_ENTRIES = 16;

/** Config bits (§3.7.1, figure 3.32). */
export const PmpCfg = { R: 1, W: 2, X: 4, A: 0x18, L: 0x80 } as const;
/** Address-matching modes, the A field shifted down. */
export const PmpMode = { OFF: 0, TOR: 1, NA4: 2, NAPOT: 3 } as const;

/** cfg 0x1f at pmpaddr all ones: NAPOT over the whole 34-bit space, RWX, unlocked. */
const OPEN_CFG = PmpCfg.R | PmpCfg.W | PmpCfg.X | (PmpMode.NAPOT << 3);

/** Page-cache slot bits: per privilege slot (U 0, S 1, M 2) four bits: known, fetch, load, store. */
const KNOWN = 8;

export class Pmp {
  readonly cfg = new Uint8Array(PMP_ENTRIES);
  readonly addr = new Int32Array(PMP_ENTRIES);
  /** Byte range [lo, hi) each entry matches (34-bit, as doubles); lo = hi when it matches nothing. */
  private readonly lo = new Float64Array(PMP_ENTRIES);
  private readonly hi = new Float64Array(PMP_ENTRIES);
  /**
   * Per privilege (index 0, 1, 3): the access kinds (bit 1 << kind) allowed at every address,
   * so the common set-ups (no locked entry for M; one entry over everything, as firmware leaves
   * it, for S and U) cost one lookup, Sv32 walks included. Read-only outside this class.
   */
  readonly everywhere = new Uint8Array(4);
  /**
   * Per RAM page and privilege: whether each kind of access is allowed on the whole page alike.
   * Only such pages may enter the TLB; the rest are checked access by access.
   */
  private readonly pages: Uint16Array;

  /**
   * @param ramBase first byte of RAM (the page cache covers RAM only)
   * @param onChange called after any change to the rules (the owner flushes cached translations)
   */
  constructor(
    private readonly ramBase: number,
    ramPages: number,
    private readonly onChange: () => void = () => {},
  ) {
    this.pages = new Uint16Array(ramPages);
    this.recompute();
  }

  /** Every entry OFF and unlocked: the state at reset. */
  reset(): void {
    this.cfg.fill(0);
    this.addr.fill(0);
    this.update();
  }

  /** Entry 0 grants RWX everywhere (what SBI firmware sets up before it enters S-mode). */
  openAll(): void {
    this.reset();
    this.addr[0] = -1;
    this.cfg[0] = OPEN_CFG;
    this.update();
  }

  /** pmpcfg`n` (0..15): four configs little-endian; zero past the implemented entries. */
  readCfg(n: number): number {
    const i = n * 4;
    if (i >= PMP_ENTRIES) return 0;
    const c = this.cfg;
    return c[i]! | (c[i + 1]! << 8) | (c[i + 2]! << 16) | (c[i + 3]! << 24);
  }

  writeCfg(n: number, v: number): void {
    const i0 = n * 4;
    if (i0 >= PMP_ENTRIES) return;
    let changed = false;
    for (let k = 0; k < 4; k++) {
      const i = i0 + k;
      // Bits 6:5 are reserved (read zero); R=0 W=1 is reserved: the entry keeps its config.
      const b = (v >>> (8 * k)) & 0x9f;
      if (this.cfg[i]! & PmpCfg.L || (b & (PmpCfg.R | PmpCfg.W)) === PmpCfg.W) continue;
      if (this.cfg[i] !== b) {
        this.cfg[i] = b;
        changed = true;
      }
    }
    if (changed) this.update();
  }

  /** pmpaddr`n` (0..63): bits 33:2 of the address. With G = 0 every bit reads as written. */
  readAddr(n: number): number {
    return n < PMP_ENTRIES ? this.addr[n]! : 0;
  }

  writeAddr(n: number, v: number): void {
    if (n >= PMP_ENTRIES || this.addrLocked(n) || this.addr[n] === (v | 0)) return;
    this.addr[n] = v;
    this.update();
  }

  /** Locked entries freeze their pmpaddr, and a locked TOR entry the one below it too (§3.7.1). */
  private addrLocked(n: number): boolean {
    if (this.cfg[n]! & PmpCfg.L) return true;
    const next = this.cfg[n + 1];
    return next !== undefined && (next & PmpCfg.L) !== 0 && (next & PmpCfg.A) >>> 3 === PmpMode.TOR;
  }

  /** Recomputes the entries' ranges and drops every cached decision, here and the owner's. */
  update(): void {
    this.recompute();
    this.onChange();
  }

  private recompute(): void {
    let locked = false;
    let first = -1;
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const c = this.cfg[i]!;
      const a = this.addr[i]! >>> 0;
      let lo = 0;
      let hi = 0;
      switch ((c & PmpCfg.A) >>> 3) {
        case PmpMode.TOR:
          lo = i === 0 ? 0 : (this.addr[i - 1]! >>> 0) * 4;
          hi = a * 4;
          if (lo >= hi) lo = hi = 0;
          break;
        case PmpMode.NA4:
          lo = a * 4;
          hi = lo + 4;
          break;
        case PmpMode.NAPOT: {
          // pmpaddr = base/4 with t trailing ones: a 2^(t+3)-byte region (t = 32: all of it).
          const t = trailingOnes(a);
          const size = 2 ** (t + 3);
          lo = t === 32 ? 0 : (a - (2 ** t - 1)) * 4;
          hi = lo + size;
          break;
        }
      }
      this.lo[i] = lo;
      this.hi[i] = hi;
      if (c & PmpCfg.L) locked = true;
      if (first < 0 && lo !== hi) first = i;
    }
    const coversAll = first >= 0 && this.lo[first] === 0 && this.hi[first]! >= 2 ** 34;
    for (const priv of [Priv.U, Priv.S, Priv.M]) {
      let kinds = 0;
      if (coversAll || (priv === Priv.M && !locked)) {
        for (const k of [Access.Fetch, Access.Load, Access.Store] as const)
          if (this.decide(0, 4, k, priv)) kinds |= 1 << k;
      }
      this.everywhere[priv] = kinds;
    }
    this.pages.fill(0);
  }

  /**
   * Whether an access of `size` bytes at physical address `pa` is allowed at effective privilege
   * `priv`. The lowest-numbered entry that matches any byte decides, and it must match every byte;
   * with no match M-mode succeeds and S/U fail (§3.7.1, "Priority and Matching Logic").
   */
  allows(pa: number, size: number, kind: AccessKind, priv: number): boolean {
    if ((this.everywhere[priv]! >>> kind) & 1) return true;
    const page = Math.floor((pa - this.ramBase) / 4096);
    const inOnePage = (pa & 0xfff) + size <= 4096;
    if (inOnePage && page >= 0 && page < this.pages.length && this.pageAllows(page, kind, priv)) return true;
    return this.decide(pa, pa + size, kind, priv);
  }

  /** Whether every access of `kind` at `priv` to RAM page `page` is allowed alike (TLB-cacheable). */
  pageAllows(page: number, kind: AccessKind, priv: number): boolean {
    if ((this.everywhere[priv]! >>> kind) & 1) return true;
    const shift = (priv === Priv.M ? 2 : priv) * 4;
    let bits = (this.pages[page]! >>> shift) & 0xf;
    if (!(bits & KNOWN)) {
      const lo = this.ramBase + page * 4096;
      bits = KNOWN;
      for (const k of [Access.Fetch, Access.Load, Access.Store] as const) {
        if (this.decide(lo, lo + 4096, k, priv)) bits |= 1 << k;
      }
      this.pages[page] = (this.pages[page]! & ~(0xf << shift)) | (bits << shift);
    }
    return ((bits >>> kind) & 1) !== 0;
  }

  /**
   * The decision for the bytes [lo, hi). Asked for a whole page, "not allowed" may also mean
   * "not alike for the whole page" (an entry covers part of it): each access is then checked.
   */
  private decide(lo: number, hi: number, kind: AccessKind, priv: number): boolean {
    for (let i = 0; i < PMP_ENTRIES; i++) {
      const elo = this.lo[i]!;
      const ehi = this.hi[i]!;
      if (elo === ehi || hi <= elo || lo >= ehi) continue;
      // The first entry matching any byte decides, and must match every byte.
      if (lo < elo || hi > ehi) return false;
      const c = this.cfg[i]!;
      if (priv === Priv.M && !(c & PmpCfg.L)) return true;
      return kindAllowed(kind, c);
    }
    return priv === Priv.M;
  }

  save(): { pmpcfg: Uint8Array; pmpaddr: Int32Array } {
    return { pmpcfg: Uint8Array.from(this.cfg), pmpaddr: Int32Array.from(this.addr) };
  }

  restore(cfg: Uint8Array, addr: Int32Array): void {
    this.cfg.set(cfg.subarray(0, PMP_ENTRIES));
    this.addr.set(addr.subarray(0, PMP_ENTRIES));
    this.update();
  }
}

/** cfg bit of an access kind: X for fetch, R for load, W for store. */
function kindAllowed(kind: AccessKind, c: number): boolean {
  const bit = kind === Access.Fetch ? PmpCfg.X : kind === Access.Load ? PmpCfg.R : PmpCfg.W;
  return (c & bit) !== 0;
}

function trailingOnes(v: number): number {
  return v === 0xffff_ffff ? 32 : 31 - Math.clz32(~v & (v + 1));
}
