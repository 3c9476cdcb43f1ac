/**
 * Sub-word access to a 32-bit register file: the byte lanes an access of `size` at `offset` covers.
 * Devices implement 32-bit registers; narrower guest accesses read or merge the addressed lanes.
 */
export function extractLanes(word: number, offset: number, size: number): number {
  const shift = (offset & 3) * 8;
  if (size === 4) return word >>> 0;
  const mask = size === 2 ? 0xffff : 0xff;
  return (word >>> shift) & mask;
}

export function mergeLanes(word: number, offset: number, size: number, value: number): number {
  if (size === 4) return value >>> 0;
  const shift = (offset & 3) * 8;
  const mask = (size === 2 ? 0xffff : 0xff) << shift;
  return ((word & ~mask) | ((value << shift) & mask)) >>> 0;
}
