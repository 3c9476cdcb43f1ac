import { describe, expect, it } from "vitest";
import { dtcDecompile, hasDtc } from "../test-support/dtc.js";
import { generateDeviceTree } from "./device-tree.js";
import { type FdtNode, findNode, parseFdt, propCells, propStrings } from "./reader.js";

const opts = {
  memoryBytes: 128 << 20,
  bootargs: "console=ttyS0 earlycon=sbi root=/dev/vda",
  initrd: { start: 0x8700_0000, end: 0x8712_3456 },
  virtio: [{ slot: 1 }, { slot: 0 }],
  timebaseHz: 10_000_000,
};

const node = (root: FdtNode, path: string): FdtNode => {
  const n = findNode(root, path);
  expect(n, path).toBeDefined();
  return n!;
};
const cells = (n: FdtNode, p: string) => propCells(n.properties.get(p) ?? new Uint8Array());
const strs = (n: FdtNode, p: string) => propStrings(n.properties.get(p) ?? new Uint8Array());

describe("generateDeviceTree", () => {
  it("describes the machine the way Linux's bindings expect", () => {
    const { root, reservations } = parseFdt(generateDeviceTree(opts));
    expect(reservations).toEqual([]);
    expect(cells(root, "#address-cells")).toEqual([2]);
    expect(cells(root, "#size-cells")).toEqual([2]);

    const chosen = node(root, "/chosen");
    expect(strs(chosen, "bootargs")).toEqual([opts.bootargs]);
    expect(strs(chosen, "stdout-path")).toEqual(["/soc/serial@10000000"]);
    expect(cells(chosen, "linux,initrd-start")).toEqual([0, 0x8700_0000]);
    expect(cells(chosen, "linux,initrd-end")).toEqual([0, 0x8712_3456]);

    const mem = node(root, "/memory@80000000");
    expect(strs(mem, "device_type")).toEqual(["memory"]);
    expect(cells(mem, "reg")).toEqual([0, 0x8000_0000, 0, 128 << 20]);

    const cpus = node(root, "/cpus");
    expect(cells(cpus, "timebase-frequency")).toEqual([10_000_000]);
    const cpu = node(root, "/cpus/cpu@0");
    expect(strs(cpu, "compatible")).toEqual(["riscv"]);
    expect(strs(cpu, "riscv,isa")).toEqual(["rv32ima"]);
    expect(strs(cpu, "mmu-type")).toEqual(["riscv,sv32"]);
    expect(strs(cpu, "device_type")).toEqual(["cpu"]);
    expect(cells(cpu, "reg")).toEqual([0]);
    const intc = node(root, "/cpus/cpu@0/interrupt-controller");
    expect(strs(intc, "compatible")).toEqual(["riscv,cpu-intc"]);
    expect(cells(intc, "#interrupt-cells")).toEqual([1]);
    expect(intc.properties.has("interrupt-controller")).toBe(true);
    const [intcPh] = cells(intc, "phandle");

    const soc = node(root, "/soc");
    expect(strs(soc, "compatible")).toEqual(["simple-bus"]);
    expect(soc.properties.get("ranges")!.length).toBe(0);

    const clint = node(root, "/soc/clint@2000000");
    expect(strs(clint, "compatible")).toEqual(["sifive,clint0", "riscv,clint0"]);
    expect(cells(clint, "reg")).toEqual([0, 0x0200_0000, 0, 0x1_0000]);
    expect(cells(clint, "interrupts-extended")).toEqual([intcPh, 3, intcPh, 7]);

    const plic = node(root, "/soc/plic@c000000");
    expect(strs(plic, "compatible")).toEqual(["sifive,plic-1.0.0", "riscv,plic0"]);
    expect(cells(plic, "reg")).toEqual([0, 0x0c00_0000, 0, 0x400_0000]);
    expect(cells(plic, "riscv,ndev")).toEqual([31]);
    expect(cells(plic, "interrupts-extended")).toEqual([intcPh, 11, intcPh, 9]);
    expect(plic.properties.has("interrupt-controller")).toBe(true);
    const [plicPh] = cells(plic, "phandle");
    expect(plicPh).not.toBe(intcPh);

    const uart = node(root, "/soc/serial@10000000");
    expect(strs(uart, "compatible")).toEqual(["ns16550a"]);
    expect(cells(uart, "reg")).toEqual([0, 0x1000_0000, 0, 0x100]);
    expect(cells(uart, "clock-frequency")).toEqual([3_686_400]);
    expect(cells(uart, "interrupts")).toEqual([10]);
    expect(cells(uart, "interrupt-parent")).toEqual([plicPh]);

    const virtio = node(root, "/soc").children.filter((c) => c.name.startsWith("virtio_mmio@"));
    expect(virtio.map((v) => v.name)).toEqual(["virtio_mmio@10001000", "virtio_mmio@10002000"]);
    virtio.forEach((v, n) => {
      expect(strs(v, "compatible")).toEqual(["virtio,mmio"]);
      expect(cells(v, "reg")).toEqual([0, 0x1000_1000 + n * 0x1000, 0, 0x1000]);
      expect(cells(v, "interrupts")).toEqual([1 + n]);
      expect(cells(v, "interrupt-parent")).toEqual([plicPh]);
    });
  });

  it("leaves out the initrd and virtio nodes when there are none, and carries reservations", () => {
    const { root, reservations } = parseFdt(
      generateDeviceTree({
        memoryBytes: 64 << 20,
        bootargs: "",
        virtio: [],
        timebaseHz: 10_000_000,
        reserved: [{ address: 0x83ff_0000, size: 0x1_0000 }],
      }),
    );
    expect(reservations).toEqual([{ address: 0x83ff_0000, size: 0x1_0000 }]);
    expect(node(root, "/chosen").properties.has("linux,initrd-start")).toBe(false);
    expect(node(root, "/soc").children.map((c) => c.name)).toEqual([
      "clint@2000000",
      "plic@c000000",
      "serial@10000000",
    ]);
  });

  it.skipIf(!hasDtc)("decompiles cleanly with dtc (no warnings)", () => {
    const { dts, warnings } = dtcDecompile(generateDeviceTree(opts));
    expect(warnings).toBe("");
    for (const line of [
      'bootargs = "console=ttyS0 earlycon=sbi root=/dev/vda";',
      'stdout-path = "/soc/serial@10000000";',
      "linux,initrd-start = <0x00 0x87000000>;",
      "reg = <0x00 0x80000000 0x00 0x8000000>;",
      "timebase-frequency = <0x989680>;",
      'riscv,isa = "rv32ima";',
      'mmu-type = "riscv,sv32";',
      'compatible = "riscv,cpu-intc";',
      'compatible = "sifive,plic-1.0.0\\0riscv,plic0";',
      "riscv,ndev = <0x1f>;",
      "interrupts-extended = <0x01 0x0b 0x01 0x09>;",
      "interrupts-extended = <0x01 0x03 0x01 0x07>;",
      'compatible = "ns16550a";',
      "virtio_mmio@10002000 {",
      "interrupts = <0x02>;",
    ]) {
      expect(dts).toContain(line);
    }
  });

  it("rejects impossible configurations", () => {
    const bad = [
      { ...opts, memoryBytes: 2 ** 31 + 4096 },
      { ...opts, virtio: [{ slot: 8 }] },
      { ...opts, virtio: [{ slot: 2 }, { slot: 2 }] },
      { ...opts, initrd: { start: 0x1000, end: 0x2000 } },
      { ...opts, timebaseHz: 0 },
    ];
    for (const b of bad)
      expect(() => generateDeviceTree(b)).toThrow(expect.objectContaining({ code: "FDT_INVALID" }));
  });
});
