/**
 * hart_mask / hart_mask_base (SBI spec §3.1) on a machine with `hartCount` harts numbered from 0:
 * which harts are targeted, and whether any targeted hart doesn't exist.
 */
export function targetedHarts(
  mask: number,
  base: number,
  hartCount: number,
): { harts: number[]; invalid: boolean } {
  if (base >>> 0 === 0xffffffff)
    return { harts: Array.from({ length: hartCount }, (_, i) => i), invalid: false };
  const harts: number[] = [];
  let invalid = false;
  for (let bit = 0; bit < 32; bit++) {
    if (((mask >>> bit) & 1) === 0) continue;
    const id = (base >>> 0) + bit;
    if (id < hartCount) harts.push(id);
    else invalid = true;
  }
  return { harts, invalid };
}
