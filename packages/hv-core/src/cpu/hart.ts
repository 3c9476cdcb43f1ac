import type { PhysicalBus } from "../bus.js";
import type { AccessSize } from "../devices/mmio.js";
import { type InterruptTarget, IRQ } from "../irq.js";
import type { StateRecord } from "../snapshot/state.js";
import { Access, type AccessKind, Cause, INTERRUPT_BIT, Priv, type PrivLevel } from "./causes.js";
import { Counter64 } from "./counter.js";
import {
  ALL_INTERRUPTS,
  Csr,
  DELEGABLE_EXCEPTIONS,
  MISA,
  MS,
  MSTATUS_WRITABLE,
  S_INTERRUPTS,
  SSTATUS_MASK,
} from "./csr-numbers.js";
import { BlockCache, type JitOptions } from "./jit/block-cache.js";
import { Mmu, TLB_MASK, TRANSLATE_OK } from "./mmu.js";
import { div, divu, mulh, mulhsu, mulhu, rem, remu } from "./muldiv.js";
import { Pmp } from "./pmp.js";

export interface HartOptions {
  hartId?: number;
  /** mtime in 10 MHz ticks, for the time/timeh CSRs. */
  clock: { now(): number };
  /** Run hot code as translated blocks (absent or false: the interpreter alone). */
  jit?: boolean | JitOptions;
}

/**
 * Called for a trap that would enter M-mode. Returns true when the host handled it (hypervisor
 * mode answers ecall-from-S as an SBI call and sets `pc` itself); false to take the trap in M-mode.
 */
export type MachineTrapHook = (cause: number, tval: number) => boolean;

/** Interrupt priority order for simultaneous pending interrupts (Privileged spec §3.1.9). */
const IRQ_PRIORITY = [IRQ.MEI, IRQ.MSI, IRQ.MTI, IRQ.SEI, IRQ.SSI, IRQ.STI];
/** Bits of mip software may write at M level (the rest are device lines). */
const MIP_SW_MASK = S_INTERRUPTS;
const SSIP = 1 << IRQ.SSI;
const SEIP = 1 << IRQ.SEI;

const enum Sys {
  ECALL = 0x0000_0073,
  EBREAK = 0x0010_0073,
  SRET = 0x1020_0073,
  MRET = 0x3020_0073,
  WFI = 0x1050_0073,
}

/**
 * One RV32IMA + Zicsr + Zifencei hart with M, S and U modes and Sv32 paging: an interpreter whose
 * hot loop (fetch, decode, ALU, loads and stores that hit the TLB) lives in `run`; everything
 * rarer (CSRs, traps, page walks, MMIO, misaligned accesses) is a method call out of it.
 * Guest actions never throw: every fault becomes a guest-visible trap.
 */
export class Hart implements InterruptTarget {
  readonly x = new Int32Array(32);
  pc = 0;
  priv: PrivLevel = Priv.M;
  readonly hartId: number;
  readonly mmu: Mmu;
  /** Physical memory protection: every entry OFF at reset (the machine opens it in hypervisor mode). */
  readonly pmp: Pmp;

  // Trap and status CSRs (int32 values).
  mstatus = 0;
  medeleg = 0;
  mideleg = 0;
  mie = 0;
  /** mip bits software writes (SSIP, STIP, SEIP). */
  mipSw = 0;
  /** mip bits devices drive (MSIP, MTIP, MEIP from CLINT/PLIC; STIP, SEIP from SBI/PLIC). */
  mipHw = 0;
  mtvec = 0;
  stvec = 0;
  mepc = 0;
  sepc = 0;
  mcause = 0;
  scause = 0;
  mtval = 0;
  stval = 0;
  mscratch = 0;
  sscratch = 0;
  mcounteren = 0;
  scounteren = 0;
  menvcfg = 0;
  senvcfg = 0;
  private readonly mcycle = new Counter64();
  private readonly minstret = new Counter64();

  /** Instructions retired since reset (drives the deterministic clock; not affected by CSR writes). */
  retired = 0;
  /** Physical RAM offset of the LR reservation, or -1. */
  reservation = -1;
  waitingForInterrupt = false;
  machineTrapHook: MachineTrapHook | undefined;
  /** The block translator, when on: the interpreter runs whatever it leaves out. */
  readonly jit: BlockCache | undefined;

  /** Set when something may need the run loop's attention: a stop request or interrupt state. */
  private attention = false;
  private stopRequested = false;
  /** Instructions retired so far in the current `run` (valid at slow-path calls). */
  private runN = 0;
  /** TLB bank offsets for fetch, load and store at the current (effective) privilege. */
  private fetchBank = 0;
  private loadBank = 0;
  private storeBank = 0;

  constructor(
    private readonly bus: PhysicalBus,
    private readonly opts: HartOptions,
  ) {
    this.hartId = opts.hartId ?? 0;
    // A rule change drops cached translations: they were checked against the old rules.
    this.pmp = new Pmp(bus.ram.base, bus.ram.pages, () => this.mmu.flush());
    this.mmu = new Mmu(bus.ram, this.pmp);
    const jit = opts.jit;
    this.jit = jit
      ? new BlockCache(
          bus.ram,
          this.x,
          this.mmu,
          jit === true ? undefined : jit.hotAfter,
          jit === true ? undefined : jit.startAfter,
        )
      : undefined;
    this.updateBanks();
  }

  /** Retired-instruction count including the current run (for the instruction clock). */
  retiredNow(): number {
    return this.retired + this.runN;
  }

  requestStop(): void {
    this.stopRequested = true;
    this.attention = true;
  }

  setInterruptPending(bit: number, level: boolean): void {
    const m = 1 << bit;
    if (m === SSIP) this.mipSw = level ? this.mipSw | m : this.mipSw & ~m;
    else this.mipHw = level ? this.mipHw | m : this.mipHw & ~m;
    this.attention = true;
  }

  /** True when an interrupt is pending and locally enabled: what ends a WFI. */
  interruptWaiting(): boolean {
    return ((this.mipSw | this.mipHw) & this.mie) !== 0;
  }

  flushTlb(): void {
    this.mmu.flush();
  }

  /**
   * Runs until `budget` steps are done, a stop is requested or WFI idles the hart. A step is a
   * retired instruction or a taken exception. Returns the number of steps.
   */
  run(budget: number): number {
    if (this.waitingForInterrupt) {
      if (!this.interruptWaiting()) return 0;
      this.waitingForInterrupt = false;
    }
    this.stopRequested = false;
    this.attention = true;
    // priv and mstatus may have been set directly (boot, restore, tests): derive the TLB banks.
    this.updateBanks();
    const x = this.x;
    const ram = this.bus.ram;
    const u8 = ram.u8;
    const u16 = ram.u16;
    const i32 = ram.i32;
    const dirty = ram.dirty.words;
    const code = ram.dirty.code;
    // Not even counted before its start: the heat check costs every interpreted instruction.
    const jit = this.jit !== undefined && this.retired >= this.jit.startAfter ? this.jit : undefined;
    const mmu = this.mmu;
    const tags = mmu.tags;
    const tbase = mmu.base;
    let pc = this.pc | 0;
    let n = 0;
    // Each taken exception uses up one step of the budget: the loop compares retired count only.
    let limit = budget;
    let fetchVpn = -1;
    let fetchWord = 0;

    while (n < limit) {
      if (this.attention) {
        this.attention = false;
        if (this.stopRequested) {
          this.stopRequested = false;
          break;
        }
        const irq = this.pendingInterrupt();
        if (irq >= 0) {
          this.pc = pc;
          this.runN = n;
          this.trap(irq | INTERRUPT_BIT, 0);
          pc = this.pc;
          fetchVpn = -1;
          if (this.stopRequested) break;
        }
      }
      const vpc = pc >>> 12;
      if (vpc !== fetchVpn) {
        const ti = this.fetchBank + (vpc & TLB_MASK);
        if (tags[ti] === vpc) {
          fetchVpn = vpc;
          fetchWord = tbase[ti]! >>> 2;
        } else {
          this.pc = pc;
          this.runN = n;
          const w = this.fetchSlow(pc);
          if (w < 0) {
            pc = this.pc;
            limit--;
            continue;
          }
          // A page PMP splits stays out of the TLB: fetch through here again next instruction.
          fetchVpn = tags[ti] === vpc ? vpc : -1;
          fetchWord = w;
        }
      }
      if (jit !== undefined && fetchVpn === vpc) {
        // Blocks never trap: they stop before anything the interpreter must do (retired 0).
        const k = jit.exec(fetchWord + ((pc & 0xfff) >>> 2), pc, limit - n, this.loadBank, this.storeBank);
        if (k > 0) {
          n += k;
          pc = jit.pc;
          continue;
        }
      }
      const insn = i32[fetchWord + ((pc & 0xfff) >>> 2)]!;
      const rd = (insn >> 7) & 31;
      const rs1 = (insn >> 15) & 31;
      const rs2 = (insn >> 20) & 31;
      const f3 = (insn >> 12) & 7;
      // Dispatch on opcode bits [6:2] (dense, so V8 emits a jump table); bits [1:0] must be 11.
      switch ((insn & 3) === 3 ? (insn >>> 2) & 31 : -1) {
        case 0x04: {
          // OP-IMM
          const imm = insn >> 20;
          const a = x[rs1]!;
          switch (f3) {
            case 0:
              x[rd] = a + imm;
              break;
            case 1:
              if (insn >>> 25 !== 0) {
                pc = this.illegal(pc, insn, n);
                limit--;
                fetchVpn = -1;
                continue;
              }
              x[rd] = a << rs2;
              break;
            case 2:
              x[rd] = a < imm ? 1 : 0;
              break;
            case 3:
              x[rd] = a >>> 0 < imm >>> 0 ? 1 : 0;
              break;
            case 4:
              x[rd] = a ^ imm;
              break;
            case 5: {
              const f7 = insn >>> 25;
              if (f7 === 0) x[rd] = a >>> rs2;
              else if (f7 === 0x20) x[rd] = a >> rs2;
              else {
                pc = this.illegal(pc, insn, n);
                limit--;
                fetchVpn = -1;
                continue;
              }
              break;
            }
            case 6:
              x[rd] = a | imm;
              break;
            default:
              x[rd] = a & imm;
              break;
          }
          x[0] = 0;
          pc = (pc + 4) | 0;
          n++;
          break;
        }
        case 0x0c: {
          // OP
          const a = x[rs1]!;
          const b = x[rs2]!;
          const f7 = insn >>> 25;
          let v: number;
          if (f7 === 0) {
            switch (f3) {
              case 0:
                v = a + b;
                break;
              case 1:
                v = a << (b & 31);
                break;
              case 2:
                v = a < b ? 1 : 0;
                break;
              case 3:
                v = a >>> 0 < b >>> 0 ? 1 : 0;
                break;
              case 4:
                v = a ^ b;
                break;
              case 5:
                v = a >>> (b & 31);
                break;
              case 6:
                v = a | b;
                break;
              default:
                v = a & b;
                break;
            }
          } else if (f7 === 0x20 && (f3 === 0 || f3 === 5)) {
            v = f3 === 0 ? a - b : a >> (b & 31);
          } else if (f7 === 1) {
            switch (f3) {
              case 0:
                v = Math.imul(a, b);
                break;
              case 1:
                v = mulh(a, b);
                break;
              case 2:
                v = mulhsu(a, b);
                break;
              case 3:
                v = mulhu(a, b);
                break;
              case 4:
                v = div(a, b);
                break;
              case 5:
                v = divu(a, b);
                break;
              case 6:
                v = rem(a, b);
                break;
              default:
                v = remu(a, b);
                break;
            }
          } else {
            pc = this.illegal(pc, insn, n);
            limit--;
            fetchVpn = -1;
            continue;
          }
          x[rd] = v;
          x[0] = 0;
          pc = (pc + 4) | 0;
          n++;
          break;
        }
        case 0x00: {
          // LOAD
          const addr = (x[rs1]! + (insn >> 20)) | 0;
          const vpn = addr >>> 12;
          const ti = this.loadBank + (vpn & TLB_MASK);
          if (tags[ti] === vpn) {
            const off = tbase[ti]! + (addr & 0xfff);
            if (f3 === 2 && (off & 3) === 0) {
              x[rd] = i32[off >> 2]!;
            } else if (f3 === 4) {
              x[rd] = u8[off]!;
            } else if (f3 === 0) {
              x[rd] = (u8[off]! << 24) >> 24;
            } else if (f3 === 5 && (off & 1) === 0) {
              x[rd] = u16[off >> 1]!;
            } else if (f3 === 1 && (off & 1) === 0) {
              x[rd] = (u16[off >> 1]! << 16) >> 16;
            } else {
              this.pc = pc;
              this.runN = n;
              if (!this.loadSlow(addr, f3, rd, insn)) {
                pc = this.pc;
                limit--;
                fetchVpn = -1;
                continue;
              }
            }
          } else {
            this.pc = pc;
            this.runN = n;
            if (!this.loadSlow(addr, f3, rd, insn)) {
              pc = this.pc;
              limit--;
              fetchVpn = -1;
              continue;
            }
          }
          x[0] = 0;
          pc = (pc + 4) | 0;
          n++;
          break;
        }
        case 0x08: {
          // STORE
          const addr = (x[rs1]! + (((insn >> 25) << 5) | rd)) | 0;
          const vpn = addr >>> 12;
          const ti = this.storeBank + (vpn & TLB_MASK);
          const v = x[rs2]!;
          let done = false;
          if (tags[ti] === vpn) {
            const off = tbase[ti]! + (addr & 0xfff);
            if (f3 === 2 && (off & 3) === 0) {
              i32[off >> 2] = v;
              done = true;
            } else if (f3 === 0) {
              u8[off] = v;
              done = true;
            } else if (f3 === 1 && (off & 1) === 0) {
              u16[off >> 1] = v;
              done = true;
            }
            if (done) {
              dirty[off >>> 17] |= 1 << ((off >>> 12) & 31);
              if (code[off >>> 12] !== 0) ram.dirty.onCodeWrite(off >>> 12);
            }
          }
          if (!done) {
            this.pc = pc;
            this.runN = n;
            if (!this.storeSlow(addr, f3, v, insn)) {
              pc = this.pc;
              limit--;
              fetchVpn = -1;
              continue;
            }
          }
          pc = (pc + 4) | 0;
          n++;
          break;
        }
        case 0x18: {
          // BRANCH
          const a = x[rs1]!;
          const b = x[rs2]!;
          let taken: boolean;
          switch (f3) {
            case 0:
              taken = a === b;
              break;
            case 1:
              taken = a !== b;
              break;
            case 4:
              taken = a < b;
              break;
            case 5:
              taken = a >= b;
              break;
            case 6:
              taken = a >>> 0 < b >>> 0;
              break;
            case 7:
              taken = a >>> 0 >= b >>> 0;
              break;
            default:
              pc = this.illegal(pc, insn, n);
              limit--;
              fetchVpn = -1;
              continue;
          }
          if (taken) {
            const imm =
              ((insn >> 31) << 12) | ((insn & 0x80) << 4) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
            const target = (pc + imm) | 0;
            if (target & 3) {
              pc = this.misalignedJump(pc, target, n);
              limit--;
              fetchVpn = -1;
              continue;
            }
            pc = target;
          } else {
            pc = (pc + 4) | 0;
          }
          n++;
          break;
        }
        case 0x1b: {
          // JAL
          const imm =
            ((insn >> 31) << 20) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
          const target = (pc + imm) | 0;
          if (target & 3) {
            pc = this.misalignedJump(pc, target, n);
            limit--;
            fetchVpn = -1;
            continue;
          }
          x[rd] = pc + 4;
          x[0] = 0;
          pc = target;
          n++;
          break;
        }
        case 0x19: {
          // JALR
          if (f3 !== 0) {
            pc = this.illegal(pc, insn, n);
            limit--;
            fetchVpn = -1;
            continue;
          }
          const target = ((x[rs1]! + (insn >> 20)) & ~1) | 0;
          if (target & 3) {
            pc = this.misalignedJump(pc, target, n);
            limit--;
            fetchVpn = -1;
            continue;
          }
          x[rd] = pc + 4;
          x[0] = 0;
          pc = target;
          n++;
          break;
        }
        case 0x0d:
          // LUI
          x[rd] = insn & 0xfffff000;
          x[0] = 0;
          pc = (pc + 4) | 0;
          n++;
          break;
        case 0x05:
          // AUIPC
          x[rd] = pc + (insn & 0xfffff000);
          x[0] = 0;
          pc = (pc + 4) | 0;
          n++;
          break;
        case 0x03:
          // MISC-MEM: FENCE (every variant, incl. PAUSE and FENCE.TSO) and FENCE.I are no-ops for
          // an interpreter that fetches from memory each time.
          if (f3 > 1) {
            pc = this.illegal(pc, insn, n);
            limit--;
            fetchVpn = -1;
            continue;
          }
          pc = (pc + 4) | 0;
          n++;
          break;
        case 0x0b:
          // AMO
          this.pc = pc;
          this.runN = n;
          if (this.amo(insn, rd, rs1, rs2, f3)) {
            pc = (pc + 4) | 0;
            n++;
          } else {
            pc = this.pc;
            limit--;
            fetchVpn = -1;
          }
          break;
        case 0x1c:
          // SYSTEM
          this.pc = pc;
          this.runN = n;
          if (this.system(insn, rd, rs1, f3)) n++;
          else limit--;
          pc = this.pc;
          fetchVpn = -1;
          break;
        default:
          pc = this.illegal(pc, insn, n);
          limit--;
          fetchVpn = -1;
          break;
      }
    }
    this.pc = pc;
    this.retired += n;
    this.runN = 0;
    return n + (budget - limit);
  }

  // ---------------------------------------------------------------------------------------------
  // Slow paths

  private illegal(pc: number, insn: number, n: number): number {
    this.pc = pc;
    this.runN = n;
    this.trap(Cause.IllegalInstruction, insn);
    return this.pc;
  }

  private misalignedJump(pc: number, target: number, n: number): number {
    this.pc = pc;
    this.runN = n;
    this.trap(Cause.InstructionMisaligned, target);
    return this.pc;
  }

  /** Effective privilege for loads and stores (MPRV). */
  private dataPriv(): number {
    return this.priv === Priv.M && this.mstatus & MS.MPRV
      ? (this.mstatus & MS.MPP) >>> MS.MPP_SHIFT
      : this.priv;
  }

  /**
   * Translates and PMP-checks the fetch at `pc`. Returns the RAM word index of its page, or -1
   * after taking the trap (fetching outside RAM is an access fault).
   */
  private fetchSlow(pc: number): number {
    const mmu = this.mmu;
    const r = mmu.translate(pc, Access.Fetch, this.priv, 4);
    const ram = this.bus.ram;
    if (r !== TRANSLATE_OK || !ram.contains(mmu.paddr, 4)) {
      this.trap(r !== TRANSLATE_OK ? r : Cause.InstructionAccessFault, pc);
      return -1;
    }
    return (mmu.paddr - ram.base - (pc & 0xfff)) >>> 2;
  }

  /**
   * Translates one data access of `size` bytes (on one page); returns the physical address, or -1
   * after taking the trap.
   */
  private translateData(vaddr: number, kind: AccessKind, size: number): number {
    const r = this.mmu.translate(vaddr, kind, this.dataPriv(), size);
    if (r !== TRANSLATE_OK) {
      this.trap(r, vaddr);
      return -1;
    }
    return this.mmu.paddr;
  }

  private loadSlow(addr: number, f3: number, rd: number, insn: number): boolean {
    const size = f3 & 3;
    if (size === 3 || f3 > 5) {
      this.trap(Cause.IllegalInstruction, insn);
      return false;
    }
    const bytes = 1 << size;
    const pa = this.translateData(addr, Access.Load, onPage(addr, bytes));
    if (pa < 0) return false;
    const ram = this.bus.ram;
    let v: number;
    if ((addr & (bytes - 1)) === 0) {
      if (ram.contains(pa, bytes)) {
        const off = pa - ram.base;
        v = bytes === 4 ? ram.i32[off >> 2]! : bytes === 2 ? ram.u16[off >> 1]! : ram.u8[off]!;
      } else {
        const r = this.bus.read(pa, bytes as AccessSize);
        if (r === undefined) {
          this.trap(Cause.LoadAccessFault, addr);
          return false;
        }
        v = r;
      }
    } else {
      // Misaligned: emulated in hardware for RAM; the tail may sit on another page.
      const offs = this.misalignedOffsets(addr, pa, bytes, Access.Load);
      if (offs === undefined) return false;
      v = 0;
      for (let i = bytes - 1; i >= 0; i--) v = (v << 8) | ram.u8[offs[i]!]!;
    }
    if (f3 === 0) v = (v << 24) >> 24;
    else if (f3 === 1) v = (v << 16) >> 16;
    this.x[rd] = v;
    this.x[0] = 0;
    return true;
  }

  private storeSlow(addr: number, f3: number, v: number, insn: number): boolean {
    if (f3 > 2) {
      this.trap(Cause.IllegalInstruction, insn);
      return false;
    }
    const bytes = 1 << f3;
    const pa = this.translateData(addr, Access.Store, onPage(addr, bytes));
    if (pa < 0) return false;
    const ram = this.bus.ram;
    if ((addr & (bytes - 1)) === 0) {
      if (ram.contains(pa, bytes)) {
        const off = pa - ram.base;
        if (bytes === 4) ram.i32[off >> 2] = v;
        else if (bytes === 2) ram.u16[off >> 1] = v;
        else ram.u8[off] = v;
        ram.dirty.mark(off >>> 12);
      } else if (!this.bus.write(pa, bytes as AccessSize, v)) {
        this.trap(Cause.StoreAccessFault, addr);
        return false;
      }
      return true;
    }
    const offs = this.misalignedOffsets(addr, pa, bytes, Access.Store);
    if (offs === undefined) return false;
    for (let i = 0; i < bytes; i++) {
      ram.u8[offs[i]!] = v >>> (8 * i);
      ram.dirty.mark(offs[i]! >>> 12);
    }
    return true;
  }

  private readonly byteOffsets = [0, 0, 0, 0];

  /**
   * RAM offsets of each byte of a misaligned access whose first byte translated to `pa`. The part
   * on the next page is translated at that page's first byte (the address reported if it faults).
   * Undefined after taking the trap; accesses outside RAM raise the misaligned exception.
   */
  private misalignedOffsets(addr: number, pa: number, bytes: number, kind: AccessKind): number[] | undefined {
    const ram = this.bus.ram;
    const onFirst = 4096 - (addr & 0xfff);
    let pa2 = 0;
    if (onFirst < bytes) {
      pa2 = this.translateData((addr + onFirst) | 0, kind, bytes - onFirst);
      if (pa2 < 0) return undefined;
    }
    const offs = this.byteOffsets;
    for (let i = 0; i < bytes; i++) {
      const b = i < onFirst ? pa + i : pa2 + (i - onFirst);
      if (!ram.contains(b, 1)) {
        this.trap(kind === Access.Load ? Cause.LoadMisaligned : Cause.StoreMisaligned, addr);
        return undefined;
      }
      offs[i] = b - ram.base;
    }
    return offs;
  }

  /** LR/SC and AMOs: naturally aligned words in RAM only (I/O regions fault, as PMAs allow). */
  private amo(insn: number, rd: number, rs1: number, rs2: number, f3: number): boolean {
    const f5 = insn >>> 27;
    if (f3 !== 2 || (f5 === 2 && rs2 !== 0) || !AMO_OPS.has(f5)) {
      this.trap(Cause.IllegalInstruction, insn);
      return false;
    }
    const addr = this.x[rs1]!;
    const isLr = f5 === 2;
    if (addr & 3) {
      this.trap(isLr ? Cause.LoadMisaligned : Cause.StoreMisaligned, addr);
      return false;
    }
    const pa = this.translateData(addr, isLr ? Access.Load : Access.Store, 4);
    if (pa < 0) return false;
    const ram = this.bus.ram;
    if (!ram.contains(pa, 4)) {
      this.trap(isLr ? Cause.LoadAccessFault : Cause.StoreAccessFault, addr);
      return false;
    }
    const off = pa - ram.base;
    const w = off >>> 2;
    const old = ram.i32[w]!;
    const src = this.x[rs2]!;
    let result = old;
    if (isLr) {
      this.reservation = off;
    } else if (f5 === 3) {
      // SC.W
      if (this.reservation === off) {
        ram.i32[w] = src;
        ram.dirty.mark(off >>> 12);
        result = 0;
      } else {
        result = 1;
      }
      this.reservation = -1;
    } else {
      let v: number;
      switch (f5) {
        case 0x00:
          v = (old + src) | 0;
          break;
        case 0x01:
          v = src;
          break;
        case 0x04:
          v = old ^ src;
          break;
        case 0x0c:
          v = old & src;
          break;
        case 0x08:
          v = old | src;
          break;
        case 0x10:
          v = old < src ? old : src;
          break;
        case 0x14:
          v = old > src ? old : src;
          break;
        case 0x18:
          v = old >>> 0 < src >>> 0 ? old : src;
          break;
        default:
          v = old >>> 0 > src >>> 0 ? old : src;
          break;
      }
      ram.i32[w] = v;
      ram.dirty.mark(off >>> 12);
    }
    this.x[rd] = result;
    this.x[0] = 0;
    return true;
  }

  /** SYSTEM opcode. Returns true when the instruction retired (this.pc is then the next pc). */
  private system(insn: number, rd: number, rs1: number, f3: number): boolean {
    const pc = this.pc;
    if (f3 === 0) {
      switch (insn) {
        case Sys.ECALL:
          this.trap(Cause.EcallFromU + this.priv, 0);
          return false;
        case Sys.EBREAK:
          this.trap(Cause.Breakpoint, pc);
          return false;
        case Sys.MRET:
          if (this.priv !== Priv.M) break;
          this.mret();
          return true;
        case Sys.SRET:
          if (this.priv === Priv.U || (this.priv === Priv.S && this.mstatus & MS.TSR)) break;
          this.sret();
          return true;
        case Sys.WFI:
          if (this.priv === Priv.U || (this.priv === Priv.S && this.mstatus & MS.TW)) break;
          this.pc = (pc + 4) | 0;
          if (!this.interruptWaiting()) {
            this.waitingForInterrupt = true;
            this.requestStop();
          }
          return true;
        default:
          // SFENCE.VMA rs1, rs2 (funct7 0b0001001, rd = 0)
          if (insn >>> 25 === 0x09 && rd === 0) {
            if (this.priv === Priv.U || (this.priv === Priv.S && this.mstatus & MS.TVM)) break;
            this.mmu.flush();
            this.pc = (pc + 4) | 0;
            return true;
          }
          break;
      }
      this.trap(Cause.IllegalInstruction, insn);
      return false;
    }
    if (f3 === 4) {
      this.trap(Cause.IllegalInstruction, insn);
      return false;
    }
    const csr = insn >>> 20;
    const op = f3 & 3;
    const operand = f3 & 4 ? rs1 : this.x[rs1]!;
    const writes = op === 1 || rs1 !== 0;
    const reads = op !== 1 || rd !== 0;
    if (((csr >>> 8) & 3) > this.priv || (writes && csr >>> 10 === 3)) {
      this.trap(Cause.IllegalInstruction, insn);
      return false;
    }
    let old = 0;
    if (reads || op !== 1) {
      const r = this.csrRead(csr);
      if (r === undefined) {
        this.trap(Cause.IllegalInstruction, insn);
        return false;
      }
      old = r;
    } else if (!this.csrExists(csr)) {
      this.trap(Cause.IllegalInstruction, insn);
      return false;
    }
    if (writes) {
      // CSRRS/CSRRC on mip modify only the software-writable SEIP bit, not the OR with the PLIC's
      // line that reads return (Privileged spec §3.1.9): setting SSIP must not latch SEIP.
      const base = csr === Csr.mip ? (old & ~SEIP) | (this.mipSw & SEIP) : old;
      const v = op === 1 ? operand : op === 2 ? base | operand : base & ~operand;
      if (!this.csrWrite(csr, v | 0)) {
        this.trap(Cause.IllegalInstruction, insn);
        return false;
      }
    }
    this.x[rd] = old;
    this.x[0] = 0;
    this.pc = (pc + 4) | 0;
    return true;
  }

  private mret(): void {
    const s = this.mstatus;
    const mpp = ((s & MS.MPP) >>> MS.MPP_SHIFT) as PrivLevel;
    let next = (s & ~(MS.MIE | MS.MPP)) | MS.MPIE | (s & MS.MPIE ? MS.MIE : 0);
    if (mpp !== Priv.M) next &= ~MS.MPRV;
    this.mstatus = next;
    this.setPriv(mpp);
    this.pc = this.mepc & ~3;
  }

  private sret(): void {
    const s = this.mstatus;
    const spp: PrivLevel = s & MS.SPP ? Priv.S : Priv.U;
    this.mstatus = (s & ~(MS.SIE | MS.SPP | MS.MPRV)) | MS.SPIE | (s & MS.SPIE ? MS.SIE : 0);
    this.setPriv(spp);
    this.pc = this.sepc & ~3;
  }

  /** The highest-priority interrupt to take now, or -1. */
  private pendingInterrupt(): number {
    const pending = (this.mipSw | this.mipHw) & this.mie;
    if (pending === 0) return -1;
    const mLevel = pending & ~this.mideleg;
    const mEnabled = this.priv < Priv.M || (this.mstatus & MS.MIE) !== 0;
    let take = mEnabled ? mLevel : 0;
    if (take === 0) {
      const sLevel = pending & this.mideleg;
      const sEnabled = this.priv < Priv.S || (this.priv === Priv.S && (this.mstatus & MS.SIE) !== 0);
      take = sEnabled ? sLevel : 0;
    }
    if (take === 0) return -1;
    for (const bit of IRQ_PRIORITY) if (take & (1 << bit)) return bit;
    return -1;
  }

  /** Takes a trap for the instruction at `this.pc` (cause has bit 31 set for interrupts). */
  trap(cause: number, tval: number): void {
    const interrupt = cause < 0;
    const code = cause & 0x7fff_ffff;
    const deleg = interrupt ? this.mideleg : this.medeleg;
    const s = this.mstatus;
    this.attention = true;
    if (this.priv <= Priv.S && code < 32 && (deleg >>> code) & 1) {
      this.scause = cause;
      this.sepc = this.pc;
      this.stval = tval;
      this.mstatus =
        (s & ~(MS.SPIE | MS.SPP | MS.SIE)) | (s & MS.SIE ? MS.SPIE : 0) | (this.priv === Priv.S ? MS.SPP : 0);
      this.setPriv(Priv.S);
      this.pc = (this.stvec & ~3) + (interrupt && this.stvec & 1 ? 4 * code : 0);
      return;
    }
    if (this.machineTrapHook?.(cause, tval)) return;
    this.mcause = cause;
    this.mepc = this.pc;
    this.mtval = tval;
    this.mstatus =
      (s & ~(MS.MPIE | MS.MPP | MS.MIE)) | (s & MS.MIE ? MS.MPIE : 0) | (this.priv << MS.MPP_SHIFT);
    this.setPriv(Priv.M);
    this.pc = (this.mtvec & ~3) + (interrupt && this.mtvec & 1 ? 4 * code : 0);
  }

  private setPriv(p: PrivLevel): void {
    this.priv = p;
    this.updateBanks();
    this.attention = true;
  }

  private updateBanks(): void {
    const d = this.dataPriv();
    this.fetchBank = Mmu.index(this.priv, Access.Fetch, 0);
    this.loadBank = Mmu.index(d, Access.Load, 0);
    this.storeBank = Mmu.index(d, Access.Store, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // CSRs

  private counterAllowed(bit: number): boolean {
    if (this.priv === Priv.M) return true;
    if (!((this.mcounteren >>> bit) & 1)) return false;
    return this.priv === Priv.S || ((this.scounteren >>> bit) & 1) === 1;
  }

  private csrExists(csr: number): boolean {
    return this.csrRead(csr) !== undefined;
  }

  /** Reads a CSR (no privilege check); undefined when it does not exist or is not accessible. */
  csrRead(csr: number): number | undefined {
    const now = this.retired + this.runN;
    switch (csr) {
      case Csr.cycle:
      case Csr.cycleh:
        if (!this.counterAllowed(0)) return undefined;
        return csr === Csr.cycle ? this.mcycle.lo(now) : this.mcycle.hi(now);
      case Csr.time:
      case Csr.timeh: {
        if (!this.counterAllowed(1)) return undefined;
        const t = this.opts.clock.now();
        return csr === Csr.time ? (t % 0x1_0000_0000) | 0 : Math.floor(t / 0x1_0000_0000) | 0;
      }
      case Csr.instret:
      case Csr.instreth:
        if (!this.counterAllowed(2)) return undefined;
        return csr === Csr.instret ? this.minstret.lo(now) : this.minstret.hi(now);
      case Csr.mcycle:
        return this.mcycle.lo(now);
      case Csr.mcycleh:
        return this.mcycle.hi(now);
      case Csr.minstret:
        return this.minstret.lo(now);
      case Csr.minstreth:
        return this.minstret.hi(now);
      case Csr.sstatus:
        return this.mstatus & SSTATUS_MASK;
      case Csr.sie:
        return this.mie & this.mideleg;
      case Csr.sip:
        return (this.mipSw | this.mipHw) & this.mideleg;
      case Csr.stvec:
        return this.stvec;
      case Csr.scounteren:
        return this.scounteren;
      case Csr.senvcfg:
        return this.senvcfg;
      case Csr.sscratch:
        return this.sscratch;
      case Csr.sepc:
        return this.sepc & ~3;
      case Csr.scause:
        return this.scause;
      case Csr.stval:
        return this.stval;
      case Csr.satp:
        if (this.priv === Priv.S && this.mstatus & MS.TVM) return undefined;
        return this.mmu.satp;
      case Csr.mvendorid:
      case Csr.marchid:
      case Csr.mimpid:
      case Csr.mconfigptr:
      case Csr.mstatush:
      case Csr.menvcfgh:
      case Csr.mcountinhibit:
        return 0;
      case Csr.mhartid:
        return this.hartId;
      case Csr.mstatus:
        return this.mstatus;
      case Csr.misa:
        return MISA;
      case Csr.medeleg:
        return this.medeleg;
      case Csr.mideleg:
        return this.mideleg;
      case Csr.mie:
        return this.mie;
      case Csr.mtvec:
        return this.mtvec;
      case Csr.mcounteren:
        return this.mcounteren;
      case Csr.menvcfg:
        return this.menvcfg;
      case Csr.mscratch:
        return this.mscratch;
      case Csr.mepc:
        return this.mepc & ~3;
      case Csr.mcause:
        return this.mcause;
      case Csr.mtval:
        return this.mtval;
      case Csr.mip:
        return this.mipSw | this.mipHw;
      // The trigger module with zero triggers (Debug spec 0.13 §5.2), so that software probing
      // for triggers (debuggers, riscv-tests' breakpoint test) finds none instead of trapping.
      // tselect is WARL and holds only 0; tdata1 reads type 0 ("no trigger at this tselect")
      // with dmode and data zero; tdata2/tdata3 read 0; writes are ignored (csrWrite's default).
      case Csr.tselect:
      case Csr.tdata1:
      case Csr.tdata2:
      case Csr.tdata3:
        return 0;
      // tinfo: "if the currently selected trigger doesn't exist, this field contains 1" (§5.2, tinfo).
      // It could be left out (type is not writable), but reading 1 answers the probe directly.
      case Csr.tinfo:
        return 1;
    }
    // Unimplemented performance counters and events read as zero (writes ignored).
    if ((csr >= 0xc03 && csr <= 0xc1f) || (csr >= 0xc83 && csr <= 0xc9f))
      return this.counterAllowed(csr & 31) ? 0 : undefined;
    if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0xb83 && csr <= 0xb9f)) return 0;
    if (csr >= 0x323 && csr <= 0x33f) return 0;
    if (csr >= Csr.pmpcfg0 && csr <= Csr.pmpcfg0 + 15) return this.pmp.readCfg(csr - Csr.pmpcfg0);
    if (csr >= Csr.pmpaddr0 && csr <= Csr.pmpaddr0 + 63) return this.pmp.readAddr(csr - Csr.pmpaddr0);
    return undefined;
  }

  /** Writes a CSR (no privilege check); false when it does not exist or may not be written. */
  csrWrite(csr: number, v: number): boolean {
    const now = this.retired + this.runN;
    switch (csr) {
      case Csr.sstatus:
        this.writeMstatus((this.mstatus & ~SSTATUS_MASK) | (v & SSTATUS_MASK));
        return true;
      case Csr.sie:
        this.mie = (this.mie & ~this.mideleg) | (v & this.mideleg);
        this.attention = true;
        return true;
      case Csr.sip: {
        const m = this.mideleg & SSIP;
        this.mipSw = (this.mipSw & ~m) | (v & m);
        this.attention = true;
        return true;
      }
      case Csr.stvec:
        this.stvec = legalTvec(v);
        return true;
      case Csr.scounteren:
        this.scounteren = v;
        return true;
      case Csr.senvcfg:
        this.senvcfg = v & 1;
        return true;
      case Csr.sscratch:
        this.sscratch = v;
        return true;
      case Csr.sepc:
        this.sepc = v & ~3;
        return true;
      case Csr.scause:
        this.scause = v;
        return true;
      case Csr.stval:
        this.stval = v;
        return true;
      case Csr.satp:
        if (this.priv === Priv.S && this.mstatus & MS.TVM) return false;
        this.mmu.satp = v;
        this.mmu.flush();
        return true;
      case Csr.mstatus:
        this.writeMstatus(v);
        return true;
      case Csr.misa:
      case Csr.mstatush:
      case Csr.menvcfgh:
      case Csr.mcountinhibit:
        return true;
      case Csr.medeleg:
        this.medeleg = v & DELEGABLE_EXCEPTIONS;
        return true;
      case Csr.mideleg:
        this.mideleg = v & S_INTERRUPTS;
        this.attention = true;
        return true;
      case Csr.mie:
        this.mie = v & ALL_INTERRUPTS;
        this.attention = true;
        return true;
      case Csr.mtvec:
        this.mtvec = legalTvec(v);
        return true;
      case Csr.mcounteren:
        this.mcounteren = v;
        return true;
      case Csr.menvcfg:
        this.menvcfg = v & 1;
        return true;
      case Csr.mscratch:
        this.mscratch = v;
        return true;
      case Csr.mepc:
        this.mepc = v & ~3;
        return true;
      case Csr.mcause:
        this.mcause = v;
        return true;
      case Csr.mtval:
        this.mtval = v;
        return true;
      case Csr.mip:
        this.mipSw = (this.mipSw & ~MIP_SW_MASK) | (v & MIP_SW_MASK);
        this.attention = true;
        return true;
      case Csr.mcycle:
        this.mcycle.writeLo(now, v);
        return true;
      case Csr.mcycleh:
        this.mcycle.writeHi(now, v);
        return true;
      case Csr.minstret:
        this.minstret.writeLo(now, v);
        return true;
      case Csr.minstreth:
        this.minstret.writeHi(now, v);
        return true;
    }
    if (csr >= Csr.pmpcfg0 && csr <= Csr.pmpcfg0 + 15) {
      this.pmp.writeCfg(csr - Csr.pmpcfg0, v);
      return true;
    }
    if (csr >= Csr.pmpaddr0 && csr <= Csr.pmpaddr0 + 63) {
      this.pmp.writeAddr(csr - Csr.pmpaddr0, v);
      return true;
    }
    return this.csrRead(csr) !== undefined && csr >>> 10 !== 3;
  }

  private writeMstatus(v: number): void {
    let next = (this.mstatus & ~MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE);
    // MPP is WARL over the implemented modes: 2 (reserved) keeps the old value.
    if ((next & MS.MPP) >>> MS.MPP_SHIFT === 2) next = (next & ~MS.MPP) | (this.mstatus & MS.MPP);
    const sum = (next & MS.SUM) !== 0;
    const mxr = (next & MS.MXR) !== 0;
    if (sum !== this.mmu.sum || mxr !== this.mmu.mxr) {
      this.mmu.sum = sum;
      this.mmu.mxr = mxr;
      this.mmu.flush();
    }
    this.mstatus = next;
    this.updateBanks();
    this.attention = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshot

  save(): StateRecord {
    return {
      x: Int32Array.from(this.x),
      pc: this.pc,
      priv: this.priv,
      mstatus: this.mstatus,
      medeleg: this.medeleg,
      mideleg: this.mideleg,
      mie: this.mie,
      mipSw: this.mipSw,
      mipHw: this.mipHw,
      mtvec: this.mtvec,
      stvec: this.stvec,
      mepc: this.mepc,
      sepc: this.sepc,
      mcause: this.mcause,
      scause: this.scause,
      mtval: this.mtval,
      stval: this.stval,
      mscratch: this.mscratch,
      sscratch: this.sscratch,
      mcounteren: this.mcounteren,
      scounteren: this.scounteren,
      menvcfg: this.menvcfg,
      senvcfg: this.senvcfg,
      satp: this.mmu.satp,
      ...this.pmp.save(),
      mcycle: this.mcycle.save(),
      minstret: this.minstret.save(),
      retired: this.retired,
      reservation: this.reservation,
      waitingForInterrupt: this.waitingForInterrupt,
    };
  }

  restore(s: StateRecord): void {
    const num = (k: string): number => (typeof s[k] === "number" ? (s[k] as number) : 0);
    if (s.x instanceof Int32Array && s.x.length === 32) this.x.set(s.x);
    this.pc = num("pc") | 0;
    const p = num("priv");
    this.priv = p === 0 || p === 1 ? p : Priv.M;
    this.medeleg = num("medeleg");
    this.mideleg = num("mideleg");
    this.mie = num("mie");
    this.mipSw = num("mipSw");
    this.mipHw = num("mipHw");
    this.mtvec = num("mtvec");
    this.stvec = num("stvec");
    this.mepc = num("mepc");
    this.sepc = num("sepc");
    this.mcause = num("mcause");
    this.scause = num("scause");
    this.mtval = num("mtval");
    this.stval = num("stval");
    this.mscratch = num("mscratch");
    this.sscratch = num("sscratch");
    this.mcounteren = num("mcounteren");
    this.scounteren = num("scounteren");
    this.menvcfg = num("menvcfg");
    this.senvcfg = num("senvcfg");
    this.mmu.satp = num("satp");
    // Snapshots from before PMP existed ran with PMP open to S and U: keep them so.
    if (s.pmpcfg instanceof Uint8Array && s.pmpaddr instanceof Int32Array)
      this.pmp.restore(s.pmpcfg, s.pmpaddr);
    else this.pmp.openAll();
    if (s.mcycle && typeof s.mcycle === "object") this.mcycle.restore(s.mcycle as StateRecord);
    if (s.minstret && typeof s.minstret === "object") this.minstret.restore(s.minstret as StateRecord);
    this.retired = num("retired");
    this.reservation = typeof s.reservation === "number" ? s.reservation : -1;
    this.waitingForInterrupt = s.waitingForInterrupt === true;
    this.mstatus = 0;
    this.writeMstatus(num("mstatus"));
    this.mmu.flush();
    // RAM was rewritten under the translations (restores copy pages in without marking them).
    this.jit?.flush();
  }
}

const AMO_OPS = new Set([0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c]);

/** Bytes of a `bytes`-wide access at `addr` that lie on its first page. */
function onPage(addr: number, bytes: number): number {
  return Math.min(4096 - (addr & 0xfff), bytes);
}

/** xtvec is WARL: MODE 0 (direct) or 1 (vectored); reserved modes fall back to direct. */
function legalTvec(v: number): number {
  const mode = v & 3;
  return (v & ~3) | (mode === 1 ? 1 : 0);
}
