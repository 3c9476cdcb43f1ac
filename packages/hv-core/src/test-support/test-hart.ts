import type { InterruptTarget } from "../irq.js";

/**
 * The hart side of interrupt wiring for device tests: a real mip word that devices drive, plus
 * a count of how often each bit was driven (to check devices don't re-drive unchanged levels).
 */
export class TestHart implements InterruptTarget {
  mip = 0;
  readonly drives = new Map<number, number>();

  setInterruptPending(bit: number, level: boolean): void {
    this.drives.set(bit, (this.drives.get(bit) ?? 0) + 1);
    if (level) this.mip |= 1 << bit;
    else this.mip &= ~(1 << bit);
  }

  pending(bit: number): boolean {
    return (this.mip & (1 << bit)) !== 0;
  }
}
