import type { Bus } from "../bus.js";
import { VirtioBlk } from "../devices/virtio/blk.js";
import type { VirtioBackend } from "../devices/virtio/device.js";
import { VIRTIO_MMIO_SIZE, VirtioMmio } from "../devices/virtio/mmio.js";
import { type NetBackend, VirtioNet } from "../devices/virtio/net.js";
import { VirtioRng } from "../devices/virtio/rng.js";
import type { Ram } from "../memory/ram.js";
import type { MachineSpec } from "./config.js";

/**
 * The machine's virtio-mmio slots: disks in slot order from slot 0, then the entropy device, then
 * the network device (so machines without one keep the slots they always had).
 * Slot n sits at base + n·stride and interrupts on PLIC source 1 + n.
 */
export class VirtioSet {
  readonly devices: VirtioMmio[] = [];
  private readonly disks: VirtioBlk[] = [];
  readonly net: VirtioNet | undefined;

  constructor(
    spec: MachineSpec,
    ram: Ram,
    irq: (slot: number, level: boolean) => void,
    netBackend?: NetBackend,
  ) {
    try {
      for (const disk of spec.disks) {
        const blk = new VirtioBlk({ path: disk.path, readOnly: disk.readOnly, dirtyLog: disk.dirtyLog });
        this.disks.push(blk);
        this.add(ram, blk, irq);
      }
    } catch (e) {
      this.close();
      throw e;
    }
    // Deterministic machines get a deterministic entropy source too.
    if (spec.rng) this.add(ram, new VirtioRng(spec.clock === "instructions" ? { seed: 1 } : {}), irq);
    if (spec.net) {
      this.net = new VirtioNet(spec.net.mac, netBackend);
      this.add(ram, this.net, irq);
    }
  }

  private add(ram: Ram, backend: VirtioBackend, irq: (slot: number, level: boolean) => void): void {
    const slot = this.devices.length;
    this.devices.push(new VirtioMmio(ram, backend, (level) => irq(slot, level)));
  }

  /** Slots in use, for the device tree. */
  get slots(): number[] {
    return this.devices.map((_, i) => i);
  }

  mapInto(bus: Bus, base: number, stride: number): void {
    this.devices.forEach((d, i) => {
      bus.map(base + i * stride, VIRTIO_MMIO_SIZE, d);
    });
  }

  /** Closes the disks' files. */
  close(): void {
    for (const d of this.disks) d.close();
  }
}
