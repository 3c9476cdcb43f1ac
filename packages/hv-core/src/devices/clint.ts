import type { MachineClock } from "../clock.js";
import { type InterruptTarget, IRQ } from "../irq.js";
import { stateBool, stateNumber } from "../snapshot/fields.js";
import { requireStateVersion, type Snapshottable, type StateRecord } from "../snapshot/state.js";
import { extractLanes, mergeLanes } from "./lanes.js";
import type { AccessSize, MmioDevice } from "./mmio.js";

/** Register offsets of the SiFive CLINT (one hart): msip, mtimecmp and the shared mtime. */
export const CLINT_MSIP = 0x0000;
export const CLINT_MTIMECMP = 0x4000;
export const CLINT_MTIME = 0xbff8;
export const CLINT_SIZE = 0x10000;

const TWO_32 = 2 ** 32;

/** The CLINT's saved state (version 1). mtime is the clock's, saved with it. */
export type ClintState = { msip: boolean; mtimecmpLo: number; mtimecmpHi: number };

export function readClintState(s: StateRecord, version: number): ClintState {
  requireStateVersion("clint", version, [1]);
  return {
    msip: stateBool(s, "clint", "msip"),
    mtimecmpLo: stateNumber(s, "clint", "mtimecmpLo") >>> 0,
    mtimecmpHi: stateNumber(s, "clint", "mtimecmpHi") >>> 0,
  };
}

/**
 * Core-local interruptor for hart 0: the machine software interrupt (msip) and the machine timer
 * (MTIP = mtime >= mtimecmp). mtime is the machine clock and is read-only here: guest time is owned
 * by the clock so it stays continuous across snapshots and migration.
 */
export class Clint implements MmioDevice, Snapshottable<ClintState> {
  readonly name = "clint";
  readonly stateVersion = 1;
  private msip = false;
  /** mtimecmp as two 32-bit halves, exactly as the guest wrote them. */
  private cmpLo = 0xffff_ffff;
  private cmpHi = 0xffff_ffff;
  /** mtimecmp in ticks; +Infinity when beyond what a tick count can reach (the reset value). */
  private deadline = Number.POSITIVE_INFINITY;
  private mtip = false;

  constructor(
    private readonly clock: MachineClock,
    private readonly hart: InterruptTarget,
  ) {}

  read(offset: number, size: AccessSize): number {
    return extractLanes(this.readWord(offset & ~3), offset, size);
  }

  write(offset: number, size: AccessSize, value: number): void {
    const reg = offset & ~3;
    const word = mergeLanes(this.readWord(reg), offset, size, value);
    if (reg === CLINT_MSIP) {
      const pending = (word & 1) !== 0;
      if (pending !== this.msip) {
        this.msip = pending;
        this.hart.setInterruptPending(IRQ.MSI, pending);
      }
    } else if (reg === CLINT_MTIMECMP) {
      this.cmpLo = word;
      this.armed();
    } else if (reg === CLINT_MTIMECMP + 4) {
      this.cmpHi = word;
      this.armed();
    }
    // mtime writes are ignored: the clock is the single source of guest time.
  }

  private readWord(reg: number): number {
    switch (reg) {
      case CLINT_MSIP:
        return this.msip ? 1 : 0;
      case CLINT_MTIMECMP:
        return this.cmpLo;
      case CLINT_MTIMECMP + 4:
        return this.cmpHi;
      case CLINT_MTIME:
        return this.clock.now() >>> 0;
      case CLINT_MTIME + 4:
        return Math.floor(this.clock.now() / TWO_32) >>> 0;
      default:
        return 0;
    }
  }

  private armed(): void {
    const value = this.cmpHi * TWO_32 + this.cmpLo;
    this.deadline = value > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : value;
    this.update();
  }

  /** Re-evaluates MTIP against the clock. Called by the run loop; allocates nothing. */
  update(): void {
    // Disarmed (the usual case under Linux, whose timer is the SBI call): skip the clock read.
    const level = this.deadline !== Number.POSITIVE_INFINITY && this.clock.now() >= this.deadline;
    if (level !== this.mtip) {
      this.mtip = level;
      this.hart.setInterruptPending(IRQ.MTI, level);
    }
  }

  /** mtimecmp in ticks (+Infinity when the timer is not armed), for idle sleeps. */
  nextDeadline(): number {
    return this.deadline;
  }

  save(): ClintState {
    return { msip: this.msip, mtimecmpLo: this.cmpLo, mtimecmpHi: this.cmpHi };
  }

  restore(record: StateRecord, version: number): void {
    const s = readClintState(record, version);
    this.msip = s.msip;
    this.cmpLo = s.mtimecmpLo;
    this.cmpHi = s.mtimecmpHi;
    this.hart.setInterruptPending(IRQ.MSI, this.msip);
    const value = this.cmpHi * TWO_32 + this.cmpLo;
    this.deadline = value > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : value;
    this.mtip = this.clock.now() >= this.deadline;
    this.hart.setInterruptPending(IRQ.MTI, this.mtip);
  }
}
