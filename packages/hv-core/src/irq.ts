/** Interrupt bit numbers in mip/mie (Privileged spec §3.1.9). */
export const IRQ = {
  SSI: 1,
  MSI: 3,
  STI: 5,
  MTI: 7,
  SEI: 9,
  MEI: 11,
} as const;

/** What devices drive: the hart's mip bits (level-triggered). */
export interface InterruptTarget {
  setInterruptPending(bit: number, level: boolean): void;
}
