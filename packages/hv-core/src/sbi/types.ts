/** SBI error codes (SBI spec v2.0, §3 "Binary Encoding", table 1). */
export const SbiError = {
  SUCCESS: 0,
  FAILED: -1,
  NOT_SUPPORTED: -2,
  INVALID_PARAM: -3,
  DENIED: -4,
  INVALID_ADDRESS: -5,
  ALREADY_AVAILABLE: -6,
  ALREADY_STARTED: -7,
  ALREADY_STOPPED: -8,
} as const;

/** What the SBI implementation may do to the machine it runs in (implemented by Machine; by a stub in tests). */
export interface SbiHost {
  readonly hartId: number;
  readonly mvendorid: number;
  readonly marchid: number;
  readonly mimpid: number;
  /** Arms the supervisor timer at `deadline` (mtime ticks) and clears a pending STIP. */
  setTimer(deadline: number): void;
  /** Sets or clears SSIP on this hart (IPIs to self). */
  setSoftwareInterrupt(pending: boolean): void;
  /** Remote fences on one hart: flush this hart's TLB (FENCE.I needs nothing in an interpreter). */
  flushTlb(): void;
  consolePutchar(byte: number): void;
  /** Next console input byte, or -1 when there is none. */
  consoleGetchar(): number;
  /** Ends the VM: shutdown (poweroff with a status) or reboot. */
  systemReset(kind: "shutdown" | "reboot", code: number): void;
  /** HSM hart_stop of the only hart: nothing can start it again. */
  hartStopped(): void;
  /** HSM retentive suspend: idle like WFI until an interrupt is pending. */
  hartSuspend(): void;
}

/** A call's arguments: a0..a5 as unsigned 32-bit values, fid from a6. */
export interface SbiCall {
  fid: number;
  args: readonly number[];
}

/** SBI v0.2+ calls return (error, value) in a0/a1; legacy (v0.1) calls return one value in a0. */
export type SbiResult = { error: number; value: number } | { legacy: number };

export interface SbiExtension {
  readonly eid: number;
  readonly name: string;
  call(host: SbiHost, call: SbiCall): SbiResult;
}

export const ok = (value = 0): SbiResult => ({ error: SbiError.SUCCESS, value });
export const fail = (error: number): SbiResult => ({ error, value: 0 });

/** The 64-bit stime_value argument of set_timer on RV32 (low word a0, high word a1). */
export function timeArg(lo: number, hi: number): number {
  return (hi >>> 0) * 2 ** 32 + (lo >>> 0);
}
