import { stateNumber } from "./snapshot/fields.js";
import { requireStateVersion, type Snapshottable, type StateRecord } from "./snapshot/state.js";

/** The hart's and CLINT's time source: mtime ticks at the 10 MHz timebase. */
export interface MachineClock extends Snapshottable<ClockState> {
  readonly kind: "host" | "instructions";
  now(): number;
  /** Moves guest time forward to `ticks` (idle fast-forward; only the instruction clock can). */
  skipTo(ticks: number): boolean;
}

/** The clock's saved state (version 1): guest time (host clock) or the ticks skipped in WFI. */
export type ClockState = { kind: "host"; mtime: number } | { kind: "instructions"; skipped: number };

export const TIMEBASE_HZ = 10_000_000;
export const TICKS_PER_MS = TIMEBASE_HZ / 1000;

/**
 * mtime from the host's monotonic clock plus an offset. A snapshot stores the guest time it was
 * taken at; restoring sets the offset so the guest continues from there, never backwards, however
 * the new host's monotonic clock compares (another process, another node).
 */
export class HostClock implements MachineClock {
  readonly kind = "host" as const;
  readonly stateVersion = 1;
  private offset: number;

  constructor(startTicks = 0) {
    this.offset = startTicks - HostClock.hostTicks();
  }

  private static hostTicks(): number {
    return Math.floor(performance.now() * TICKS_PER_MS);
  }

  now(): number {
    return HostClock.hostTicks() + this.offset;
  }

  skipTo(): boolean {
    return false;
  }

  save(): ClockState {
    return { kind: this.kind, mtime: this.now() };
  }

  restore(s: StateRecord, version: number): void {
    requireStateVersion("clock", version, [1]);
    this.offset = stateNumber(s, "clock", "mtime") - HostClock.hostTicks();
  }
}

/**
 * Deterministic time: one tick per retired instruction, plus the ticks skipped while the hart
 * idled in WFI. Runs (and their snapshots) are then reproducible bit for bit.
 */
export class InstructionClock implements MachineClock {
  readonly kind = "instructions" as const;
  readonly stateVersion = 1;
  private skipped = 0;

  constructor(private readonly retired: () => number) {}

  now(): number {
    return this.retired() + this.skipped;
  }

  skipTo(ticks: number): boolean {
    const now = this.now();
    if (ticks > now) this.skipped += ticks - now;
    return true;
  }

  save(): ClockState {
    return { kind: this.kind, skipped: this.skipped };
  }

  restore(s: StateRecord, version: number): void {
    requireStateVersion("clock", version, [1]);
    this.skipped = stateNumber(s, "clock", "skipped");
  }
}
