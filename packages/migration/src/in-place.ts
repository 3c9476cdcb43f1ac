/**
 * A disk kept in place (both ends mount the same shared storage): no block travels, so the
 * per-block ledgers that prove a copied disk have nothing to prove. What can still go wrong is
 * that the destination does not see what the source wrote (a cache not flushed, another file
 * under the same name). So at the commit the source names the blocks its guest wrote during the
 * migration and sums them as read back after its flush; the destination reads the same blocks
 * from its own view of the storage and must get the same sum.
 */
import { readSync } from "node:fs";
import { blockSum, foldSums } from "./checksum.js";
import { DISK_BLOCK_SIZE } from "./format.js";

/** Blocks verified at most (an even sample beyond): 64 MiB read at each end, within the downtime. */
export const MAX_VERIFIED_BLOCKS = 16_384;

/** All of `blocks` (ascending), or an even sample of MAX_VERIFIED_BLOCKS of them. */
export function sampleBlocks(blocks: ArrayLike<number>): number[] {
  const n = blocks.length;
  if (n <= MAX_VERIFIED_BLOCKS) return Array.from(blocks);
  const out: number[] = [];
  for (let i = 0; i < MAX_VERIFIED_BLOCKS; i++) out.push(blocks[Math.floor((i * n) / MAX_VERIFIED_BLOCKS)]!);
  return out;
}

/** The checksum of the blocks' contents in the file `fd` (past its end reads as zeros). */
export function diskBlocksChecksum(fd: number, blocks: readonly number[]): number {
  const sums = new Uint32Array(blocks.length);
  const buf = Buffer.alloc(DISK_BLOCK_SIZE);
  for (let i = 0; i < blocks.length; i++) {
    buf.fill(0);
    const pos = blocks[i]! * DISK_BLOCK_SIZE;
    let done = 0;
    while (done < DISK_BLOCK_SIZE) {
      const n = readSync(fd, buf, done, DISK_BLOCK_SIZE - done, pos + done);
      if (n === 0) break;
      done += n;
    }
    sums[i] = blockSum(buf, 0, DISK_BLOCK_SIZE);
  }
  return foldSums(sums);
}
