/** RFC 1071 Internet checksum: one's-complement sum of 16-bit words, folded and inverted. */
export function internetChecksum(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  return foldChecksum(sumWords(buf, offset, length, initial));
}

/** Unfolded sum, to chain a pseudo-header and a payload. */
export function sumWords(buf: Uint8Array, offset: number, length: number, initial = 0): number {
  let sum = initial;
  const end = offset + length;
  let i = offset;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  // Fold now and then so the sum stays a small integer on long buffers.
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
