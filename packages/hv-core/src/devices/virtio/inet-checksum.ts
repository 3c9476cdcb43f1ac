/**
 * The Internet checksum (RFC 1071) over [from, to) of `b`, added onto `sum` (a pseudo-header's,
 * say): the ones' complement of the folded ones' complement sum, an odd last byte padded with zero.
 * 0 when a range that holds its own checksum is intact.
 */
export function internetChecksum(b: Uint8Array, from: number, to: number, sum = 0): number {
  let i = from;
  for (; i + 1 < to; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < to) sum += b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The checksum as a sender writes it: a zero result goes as 0xffff (zero means "none" in UDP). */
export function sentChecksum(b: Uint8Array, from: number, to: number, sum = 0): number {
  return internetChecksum(b, from, to, sum) || 0xffff;
}
