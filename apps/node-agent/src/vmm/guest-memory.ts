/**
 * Guest RAM and its dirty bitmap, shared between the VMM's main thread and the vCPU worker, and
 * the disk's dirty-block log (live migration pre-copies the disk with it). Apart from guest.ts so
 * the main thread does not load the machine (hv-core's whole core) to allocate them.
 */
import { existsSync, statSync } from "node:fs";
import { diskDirtyLogBytes, type SharedMemory } from "@skiff/hv-core/memory";

export interface GuestMemory extends SharedMemory {
  diskDirty?: SharedArrayBuffer;
}

export function guestMemoryFor(memoryBytes: number, diskPath = ""): GuestMemory {
  const pages = Math.ceil(memoryBytes / 4096);
  return {
    ram: new SharedArrayBuffer(memoryBytes),
    dirty: new SharedArrayBuffer(Math.ceil(pages / 32) * 4),
    ...(diskPath !== "" && existsSync(diskPath)
      ? { diskDirty: new SharedArrayBuffer(diskDirtyLogBytes(statSync(diskPath).size)) }
      : {}),
  };
}
