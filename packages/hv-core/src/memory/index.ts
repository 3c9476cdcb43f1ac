/**
 * `@skiff/hv-core/memory`: guest RAM's dirty bitmap and the disk's dirty-block log, for the VMM's
 * threads that share them with the vCPU but never run a machine (its main thread loads this, not
 * the whole core: a restore from suspend waited for ~60 modules it did not use).
 */

export type { SharedMemory } from "../machine/config.js";
export { DISK_DIRTY_BLOCK, diskDirtyLogBytes } from "./dirty-log.js";
export { DirtyBitmap, PAGE_SIZE } from "./ram.js";
