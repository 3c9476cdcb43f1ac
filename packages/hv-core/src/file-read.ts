import { readSync } from "node:fs";

/**
 * Reads `length` bytes of file `fd` at `position` into `buf` from `offset`, over as many reads as
 * it takes; fewer only where the file ends. Returns how many it read: each caller says what a
 * short file means to it.
 */
export function readAt(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}
