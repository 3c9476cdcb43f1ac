import { describe, expect, it } from "vitest";
import { dtcDecompile, hasDtc } from "../test-support/dtc.js";
import { findNode, parseFdt, propCells, propStrings } from "./reader.js";
import { FDT_MAGIC, FdtWriter } from "./writer.js";

function sample(): Uint8Array {
  const w = new FdtWriter();
  w.addReservation(0x8800_0000, 0x1000).addReservation(2 ** 33, 2 ** 32 + 5);
  const ph = w.allocPhandle();
  w.beginNode("");
  w.cells("#address-cells", 2).cells("#size-cells", 2);
  w.beginNode("intc");
  w.cells("#address-cells", 0).cells("#interrupt-cells", 1);
  w.empty("interrupt-controller");
  w.phandle(ph);
  w.endNode();
  w.beginNode("dev@1000");
  w.u64("reg", 0x1000, 2 ** 32 + 0x20);
  w.strings("compatible", "acme,widget-2", "acme,widget");
  w.string("label", "odd length!");
  w.cells("interrupts-extended", ph, 3);
  w.cells("negative", -1);
  w.endNode();
  w.endNode();
  return w.finish(0);
}

describe("FdtWriter", () => {
  it("writes a v17 header with 8-byte aligned reservation map and deduplicated strings", () => {
    const blob = sample();
    const v = new DataView(blob.buffer);
    expect(v.getUint32(0)).toBe(FDT_MAGIC);
    expect(v.getUint32(4)).toBe(blob.length);
    expect(v.getUint32(20)).toBe(17);
    expect(v.getUint32(24)).toBe(16);
    expect(v.getUint32(16) % 8).toBe(0); // off_mem_rsvmap
    expect(v.getUint32(8) % 4).toBe(0); // off_dt_struct
    const strings = new TextDecoder().decode(
      blob.subarray(v.getUint32(12), v.getUint32(12) + v.getUint32(32)),
    );
    // Each property name is stored once, however many nodes use it.
    expect(strings.split("\0").filter((s) => s === "#address-cells").length).toBe(1);
    expect(v.getUint32(32)).toBe(strings.length);
  });

  it("reads back nodes, cells, 64-bit values, stringlists, phandles and reservations", () => {
    const fdt = parseFdt(sample());
    expect(fdt.reservations).toEqual([
      { address: 0x8800_0000, size: 0x1000 },
      { address: 2 ** 33, size: 2 ** 32 + 5 },
    ]);
    expect(fdt.root.children.map((c) => c.name)).toEqual(["intc", "dev@1000"]);
    const dev = findNode(fdt.root, "/dev@1000")!;
    expect(propCells(dev.properties.get("reg")!)).toEqual([0, 0x1000, 1, 0x20]);
    expect(propStrings(dev.properties.get("compatible")!)).toEqual(["acme,widget-2", "acme,widget"]);
    expect(propStrings(dev.properties.get("label")!)).toEqual(["odd length!"]);
    expect(propCells(dev.properties.get("negative")!)).toEqual([0xffffffff]);
    const intc = findNode(fdt.root, "/intc")!;
    expect(intc.properties.get("interrupt-controller")!.length).toBe(0);
    expect(propCells(dev.properties.get("interrupts-extended")!)[0]).toBe(
      propCells(intc.properties.get("phandle")!)[0],
    );
  });

  it.skipIf(!hasDtc)("is accepted by dtc", () => {
    const { dts, warnings } = dtcDecompile(sample());
    expect(warnings).toBe("");
    expect(dts).toContain("/memreserve/\t0x0000000088000000 0x0000000000001000;");
    expect(dts).toContain("/memreserve/\t0x0000000200000000 0x0000000100000005;");
    expect(dts).toContain('compatible = "acme,widget-2\\0acme,widget";');
    expect(dts).toContain("reg = <0x00 0x1000 0x01 0x20>;");
    expect(dts).toMatch(/intc \{[^}]*interrupt-controller;\s+phandle = <0x01>;/);
  });

  it("refuses malformed trees with FDT_INVALID", () => {
    const cases: [string, (w: FdtWriter) => void][] = [
      ["property outside a node", (w) => w.cells("x", 1)],
      ["two roots", (w) => w.beginNode("").endNode().beginNode("")],
      ["named root", (w) => w.beginNode("root")],
      ["unnamed child", (w) => w.beginNode("").beginNode("")],
      ["unbalanced end", (w) => w.endNode()],
      ["NUL in a string", (w) => w.beginNode("").string("s", "a\0b")],
      ["cell out of range", (w) => w.beginNode("").cells("c", 2 ** 32)],
      ["negative 64-bit value", (w) => w.beginNode("").u64("r", -1)],
    ];
    for (const [name, misuse] of cases) {
      expect(() => misuse(new FdtWriter()), name).toThrow(expect.objectContaining({ code: "FDT_INVALID" }));
    }
    expect(() => new FdtWriter().beginNode("").finish()).toThrow(/left open/);
    expect(() => new FdtWriter().finish()).toThrow(/no root/);
  });
});
