/** Building the hv-core Machine for a VM's spec: fresh boot, or restore from a snapshot. */
import { readFileSync } from "node:fs";
import { Machine, type SharedMemory } from "@skiff/hv-core";
import type { VmSpecRecord } from "../vm/record.js";

/** Guest RAM and its dirty bitmap, shared between the VMM's main thread and the vCPU worker. */
export type GuestMemory = SharedMemory;

export function guestMemoryFor(memoryBytes: number): GuestMemory {
  const pages = Math.ceil(memoryBytes / 4096);
  return {
    ram: new SharedArrayBuffer(memoryBytes),
    dirty: new SharedArrayBuffer(Math.ceil(pages / 32) * 4),
  };
}

/** Boots a fresh machine for the VM's spec, its RAM in `memory`. */
export function bootGuest(spec: VmSpecRecord, memory: GuestMemory): Machine {
  const linux = spec.bootMode === "linux";
  return Machine.create({
    mode: linux ? "hypervisor" : "firmware",
    memoryBytes: spec.memoryBytes,
    image: readFileSync(spec.kernelPath),
    ...(spec.initrdPath !== "" ? { initrd: readFileSync(spec.initrdPath) } : {}),
    ...(spec.kernelArgs !== "" ? { bootargs: spec.kernelArgs } : {}),
    disks: spec.diskPath !== "" ? [{ path: spec.diskPath }] : [],
    memory,
  });
}

/** Restores a machine from a snapshot, its RAM in `memory`. */
export function restoreGuest(snapshot: Uint8Array, memory: GuestMemory): Machine {
  return Machine.restore(snapshot, { memory });
}
