/** The disk's dirty-block log (virtio-blk sets it, live migration fetches and clears it). */

/** Granularity of the dirty-block log. */
export const DISK_DIRTY_BLOCK = 4096;

/** Bytes of SharedArrayBuffer a dirty-block log for a disk of `diskBytes` needs. */
export function diskDirtyLogBytes(diskBytes: number): number {
  return Math.ceil(Math.ceil(diskBytes / DISK_DIRTY_BLOCK) / 32) * 4;
}
