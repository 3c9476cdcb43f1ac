import { SkiffError } from "@skiff/common";
import { IRQ } from "../irq.js";
import { RAM_BASE } from "../memory/ram.js";
import { FdtWriter } from "./writer.js";

/** The machine map the tree describes (QEMU `virt` layout, docs/ARCHITECTURE.md). */
const CLINT = { base: 0x0200_0000, size: 0x1_0000 };
const PLIC = { base: 0x0c00_0000, size: 0x400_0000 };
const UART = { base: 0x1000_0000, size: 0x100, irq: 10 };
const VIRTIO = { base: 0x1000_1000, stride: 0x1000, size: 0x1000, firstIrq: 1, slots: 8 };
/** PLIC sources 1..31 (source 0 does not exist); matches `new Plic(hart, 32)`. */
const PLIC_NDEV = 31;
/** The ns16550a input clock Linux divides for baud rates (the classic 1.8432 MHz x 2). */
const UART_CLOCK_HZ = 3_686_400;

export interface DeviceTreeOptions {
  memoryBytes: number;
  bootargs: string;
  /** Physical [start, end) of the initrd, if any. */
  initrd?: { start: number; end: number };
  /** Populated virtio-mmio slots (0..7). */
  virtio: { slot: number }[];
  timebaseHz: number;
  /** Extra memory reservation map entries. */
  reserved?: { address: number; size: number }[];
}

function invalid(message: string): never {
  throw new SkiffError("FDT_INVALID", message);
}

const hex = (n: number) => n.toString(16);

/**
 * The device tree for one VM (hypervisor mode): one RV32IMA hart with Sv32, RAM at 0x8000_0000,
 * CLINT, PLIC, the console UART and the populated virtio-mmio slots. Interrupt wiring follows the
 * bindings Linux reads: the PLIC's contexts are listed as (hart 0 M-mode → MEIP, hart 0 S-mode →
 * SEIP), so context 1 is the one Linux running in S-mode uses.
 */
export function generateDeviceTree(opts: DeviceTreeOptions): Uint8Array {
  if (
    !Number.isSafeInteger(opts.memoryBytes) ||
    opts.memoryBytes <= 0 ||
    RAM_BASE + opts.memoryBytes > 2 ** 32
  )
    invalid(`memory size ${opts.memoryBytes} does not fit above 0x${hex(RAM_BASE)}`);
  if (!Number.isInteger(opts.timebaseHz) || opts.timebaseHz <= 0 || opts.timebaseHz >= 2 ** 32)
    invalid(`timebase ${opts.timebaseHz} Hz`);
  const slots = opts.virtio.map((v) => v.slot);
  for (const s of slots)
    if (!Number.isInteger(s) || s < 0 || s >= VIRTIO.slots) invalid(`virtio slot ${s} out of range`);
  if (new Set(slots).size !== slots.length) invalid("virtio slot used twice");
  if (opts.initrd && !(opts.initrd.start >= RAM_BASE && opts.initrd.end >= opts.initrd.start))
    invalid("initrd range outside RAM");

  const fdt = new FdtWriter();
  for (const r of opts.reserved ?? []) fdt.addReservation(r.address, r.size);
  const cpuIntc = fdt.allocPhandle();
  const plic = fdt.allocPhandle();

  fdt.beginNode("");
  fdt.cells("#address-cells", 2).cells("#size-cells", 2);
  fdt.strings("compatible", "skiff,rv32-virt", "riscv-virtio");
  fdt.string("model", "Skiff RV32 virtual machine");

  fdt.beginNode("chosen");
  fdt.string("bootargs", opts.bootargs);
  fdt.string("stdout-path", `/soc/serial@${hex(UART.base)}`);
  if (opts.initrd) {
    fdt.u64("linux,initrd-start", opts.initrd.start);
    fdt.u64("linux,initrd-end", opts.initrd.end);
  }
  fdt.endNode();

  fdt.beginNode(`memory@${hex(RAM_BASE)}`);
  fdt.string("device_type", "memory");
  fdt.u64("reg", RAM_BASE, opts.memoryBytes);
  fdt.endNode();

  fdt.beginNode("cpus");
  fdt.cells("#address-cells", 1).cells("#size-cells", 0);
  fdt.cells("timebase-frequency", opts.timebaseHz);
  fdt.beginNode("cpu@0");
  fdt.string("device_type", "cpu");
  fdt.cells("reg", 0);
  fdt.string("status", "okay");
  fdt.string("compatible", "riscv");
  // No sstc: the supervisor timer is the SBI TIME call, answered by the hypervisor.
  fdt.string("riscv,isa", "rv32ima");
  fdt.string("mmu-type", "riscv,sv32");
  fdt.beginNode("interrupt-controller");
  fdt.cells("#address-cells", 0);
  fdt.cells("#interrupt-cells", 1);
  fdt.empty("interrupt-controller");
  fdt.string("compatible", "riscv,cpu-intc");
  fdt.phandle(cpuIntc);
  fdt.endNode();
  fdt.endNode();
  fdt.endNode();

  fdt.beginNode("soc");
  fdt.cells("#address-cells", 2).cells("#size-cells", 2);
  fdt.string("compatible", "simple-bus");
  fdt.empty("ranges");

  fdt.beginNode(`clint@${hex(CLINT.base)}`);
  fdt.strings("compatible", "sifive,clint0", "riscv,clint0");
  fdt.u64("reg", CLINT.base, CLINT.size);
  fdt.cells("interrupts-extended", cpuIntc, IRQ.MSI, cpuIntc, IRQ.MTI);
  fdt.endNode();

  fdt.beginNode(`plic@${hex(PLIC.base)}`);
  fdt.strings("compatible", "sifive,plic-1.0.0", "riscv,plic0");
  fdt.u64("reg", PLIC.base, PLIC.size);
  fdt.cells("#address-cells", 0);
  fdt.cells("#interrupt-cells", 1);
  fdt.empty("interrupt-controller");
  fdt.cells("riscv,ndev", PLIC_NDEV);
  fdt.cells("interrupts-extended", cpuIntc, IRQ.MEI, cpuIntc, IRQ.SEI);
  fdt.phandle(plic);
  fdt.endNode();

  fdt.beginNode(`serial@${hex(UART.base)}`);
  fdt.string("compatible", "ns16550a");
  fdt.u64("reg", UART.base, UART.size);
  fdt.cells("clock-frequency", UART_CLOCK_HZ);
  fdt.cells("interrupt-parent", plic);
  fdt.cells("interrupts", UART.irq);
  fdt.endNode();

  for (const slot of [...slots].sort((a, b) => a - b)) {
    const base = VIRTIO.base + slot * VIRTIO.stride;
    fdt.beginNode(`virtio_mmio@${hex(base)}`);
    fdt.string("compatible", "virtio,mmio");
    fdt.u64("reg", base, VIRTIO.size);
    fdt.cells("interrupt-parent", plic);
    fdt.cells("interrupts", VIRTIO.firstIrq + slot);
    fdt.endNode();
  }

  fdt.endNode(); // soc
  fdt.endNode(); // root
  return fdt.finish();
}
