/** Exception codes (mcause/scause with the interrupt bit clear), Privileged spec §3.1.15. */
export const Cause = {
  InstructionMisaligned: 0,
  InstructionAccessFault: 1,
  IllegalInstruction: 2,
  Breakpoint: 3,
  LoadMisaligned: 4,
  LoadAccessFault: 5,
  StoreMisaligned: 6,
  StoreAccessFault: 7,
  EcallFromU: 8,
  EcallFromS: 9,
  EcallFromM: 11,
  InstructionPageFault: 12,
  LoadPageFault: 13,
  StorePageFault: 15,
} as const;

/** Interrupt causes carry bit 31; as an int32 they are negative. */
export const INTERRUPT_BIT = 0x8000_0000 | 0;

export const Priv = { U: 0, S: 1, M: 3 } as const;
export type PrivLevel = 0 | 1 | 3;

/** The three kinds of memory access, which select the fault causes and the permission checked. */
export const Access = { Fetch: 0, Load: 1, Store: 2 } as const;
export type AccessKind = 0 | 1 | 2;

export const PAGE_FAULT: readonly number[] = [
  Cause.InstructionPageFault,
  Cause.LoadPageFault,
  Cause.StorePageFault,
];
export const ACCESS_FAULT: readonly number[] = [
  Cause.InstructionAccessFault,
  Cause.LoadAccessFault,
  Cause.StoreAccessFault,
];
