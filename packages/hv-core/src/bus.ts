import type { AccessSize, MmioDevice } from "./devices/mmio.js";
import type { Ram } from "./memory/ram.js";

/**
 * The physical address space a hart sees. RAM is reached directly through `ram` (the hot path);
 * everything else goes through `read`/`write`, which report an access fault for unmapped addresses
 * instead of throwing, so the hart can raise the precise guest-visible exception.
 */
export interface PhysicalBus {
  readonly ram: Ram;
  /** Value zero-extended to 32 bits, or `undefined` when nothing is mapped there (access fault). */
  read(paddr: number, size: AccessSize): number | undefined;
  /** `false` when nothing is mapped there (access fault). */
  write(paddr: number, size: AccessSize, value: number): boolean;
}

interface Mapping {
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

/** RAM plus MMIO devices at fixed bases (the machine map in docs/architecture.md). */
export class Bus implements PhysicalBus {
  private readonly mappings: Mapping[] = [];

  constructor(readonly ram: Ram) {}

  map(base: number, size: number, device: MmioDevice): void {
    for (const m of this.mappings) {
      if (base < m.base + m.size && m.base < base + size)
        throw new RangeError(`${device.name} overlaps ${m.device.name}`);
    }
    this.mappings.push({ base: base >>> 0, size, device });
  }

  private find(paddr: number, size: number): Mapping | undefined {
    const a = paddr >>> 0;
    for (const m of this.mappings) if (a >= m.base && a + size <= m.base + m.size) return m;
    return undefined;
  }

  read(paddr: number, size: AccessSize): number | undefined {
    const a = paddr >>> 0;
    if (this.ram.contains(a, size)) {
      const off = a - this.ram.base;
      const u8 = this.ram.u8;
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = (v << 8) | u8[off + i]!;
      return v >>> 0;
    }
    const m = this.find(a, size);
    return m ? m.device.read(a - m.base, size) >>> 0 : undefined;
  }

  write(paddr: number, size: AccessSize, value: number): boolean {
    const a = paddr >>> 0;
    if (this.ram.contains(a, size)) {
      const off = a - this.ram.base;
      const u8 = this.ram.u8;
      for (let i = 0; i < size; i++) u8[off + i] = (value >>> (8 * i)) & 0xff;
      this.ram.dirty.markRange(off, size);
      return true;
    }
    const m = this.find(a, size);
    if (!m) return false;
    m.device.write(a - m.base, size, value >>> 0);
    return true;
  }
}
