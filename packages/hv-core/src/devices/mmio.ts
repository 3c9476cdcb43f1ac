/**
 * A memory-mapped device on the physical bus. Offsets are relative to the device's base address.
 * Accesses are naturally aligned and 1, 2 or 4 bytes wide. A device never throws for anything the
 * guest does: unknown registers read as 0 and ignore writes, unless the device's spec says otherwise.
 */
export type AccessSize = 1 | 2 | 4;

export interface MmioDevice {
  readonly name: string;
  /** Returns the value zero-extended to 32 bits (as an unsigned or signed JS number; callers mask). */
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}
