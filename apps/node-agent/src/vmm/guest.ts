/** Building the hv-core Machine for a VM's spec: fresh boot, or restore from a snapshot. */
import { type DiskConfig, Machine, type MachineConfig, type NetBackend } from "@skiff/hv-core";
import type { VmSpecRecord } from "../vm/record.js";
import type { GuestMemory } from "./guest-memory.js";

export type { GuestMemory } from "./guest-memory.js";

type MachineShape = Omit<MachineConfig, "image" | "initrd">;

/** The VM's disks as the machine opens them: its own disk file, with the dirty-block log. */
function disksOf(spec: VmSpecRecord, memory: GuestMemory): DiskConfig[] {
  if (spec.diskPath === "") return [];
  return [{ path: spec.diskPath, ...(memory.diskDirty ? { dirtyLog: memory.diskDirty } : {}) }];
}

/**
 * The kernel command line: the spec's, plus `ip=dhcp` for a Linux guest with a NIC (the kernel
 * configures eth0 itself; the node switch answers DHCP from the network map) unless the spec
 * already says how to configure it.
 */
export function kernelArgsOf(spec: VmSpecRecord): string {
  const args = spec.kernelArgs.trim();
  const wantsDhcp = spec.bootMode === "linux" && (spec.nics?.length ?? 0) > 0 && !/(^|\s)ip=/.test(args);
  return wantsDhcp ? `${args} ip=dhcp`.trim() : args;
}

/** The machine the VM's spec describes, its RAM in `memory`, its NIC (if any) on `net`. */
function machineOf(spec: VmSpecRecord, memory: GuestMemory, net?: NetBackend): MachineShape {
  const bootargs = kernelArgsOf(spec);
  const nic = spec.nics?.[0];
  return {
    mode: spec.bootMode === "linux" ? "hypervisor" : "firmware",
    memoryBytes: spec.memoryBytes,
    ...(bootargs !== "" ? { bootargs } : {}),
    disks: disksOf(spec, memory),
    ...(nic ? { net: { mac: nic.mac, ...(net ? { backend: net } : {}) } } : {}),
    memory,
  };
}

/** Boots a fresh machine for the VM's spec, its RAM in `memory`, its NIC (if any) on `net`. */
export function bootGuest(spec: VmSpecRecord, memory: GuestMemory, net?: NetBackend): Machine {
  return Machine.create({
    ...machineOf(spec, memory, net),
    // Read straight into guest RAM (see hv-core's Payload).
    image: { path: spec.kernelPath },
    ...(spec.initrdPath !== "" ? { initrd: { path: spec.initrdPath } } : {}),
  });
}

/**
 * A blank machine for the VM's spec (nothing loaded; see Machine.blank): an incoming migration's
 * vCPU builds it before the pause and restores the device state into it.
 */
export function blankGuest(spec: VmSpecRecord, memory: GuestMemory, net?: NetBackend): Machine {
  return Machine.blank(machineOf(spec, memory, net));
}

/**
 * Restores a machine from a snapshot, its RAM in `memory`, its disk the VM's own (the snapshot's
 * path may be another node's after a live migration).
 */
export function restoreGuest(
  snapshot: Uint8Array,
  memory: GuestMemory,
  spec: VmSpecRecord,
  net?: NetBackend,
): Machine {
  return Machine.restore(snapshot, { memory, disks: disksOf(spec, memory), ...(net ? { net } : {}) });
}

/**
 * Restores a suspended VM from its snapshot file into `memory`, a new VMM's (nothing wrote it yet:
 * only the image's runs are written, see Machine.restoreFile).
 */
export function restoreGuestFile(
  path: string,
  memory: GuestMemory,
  spec: VmSpecRecord,
  net?: NetBackend,
): Promise<Machine> {
  return Machine.restoreFile(path, {
    memory,
    ramIsZero: true,
    disks: disksOf(spec, memory),
    ...(net ? { net } : {}),
  });
}
