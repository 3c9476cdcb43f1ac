import { SkiffError } from "@skiff/common";
import type { Bus } from "../bus.js";
import type { Ram } from "../memory/ram.js";
import type { StateRecord } from "../snapshot/state.js";
import type { MachineSpec } from "./config.js";

/**
 * The machine's virtio-mmio slots (disks in slot order, then rng) and the device tree that
 * describes them. Interim: the virtio transport and FDT writer are landing; until then a machine
 * has no virtio devices and cannot boot Linux.
 */
export class VirtioSet {
  constructor(spec: MachineSpec, _ram: Ram, _irq: (slot: number, level: boolean) => void) {
    if (spec.disks.length > 0 || (spec.rng && spec.mode === "hypervisor")) {
      throw new SkiffError("MACHINE_UNSUPPORTED", "virtio devices are not available yet");
    }
  }

  mapInto(_bus: Bus, _base: number, _stride: number): void {}

  deviceTree(_spec: MachineSpec, _initrd: { start: number; end: number } | undefined): Uint8Array {
    throw new SkiffError("MACHINE_UNSUPPORTED", "device tree generation is not available yet");
  }

  save(): Record<string, StateRecord> {
    return {};
  }

  restore(_c: Record<string, StateRecord>): void {}
}
