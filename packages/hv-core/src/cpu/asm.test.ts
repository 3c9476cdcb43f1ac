import { describe, expect, it } from "vitest";
import { Asm } from "./asm.js";

const [zero, ra, t0, t1] = [0, 1, 5, 6];
const [s0, s1, a0, a1, a2, a5] = [8, 9, 10, 11, 12, 15];
const [s2, s3, s4, s5] = [18, 19, 20, 21];

/** Words as GNU as (riscv64-unknown-elf-as -march=rv32ima_zicsr_zifencei) encodes the same lines. */
describe("Asm", () => {
  it("encodes as the GNU assembler does, labels and pc-relative forms included", () => {
    const asm = new Asm(0x8040_0000)
      .op("add", a0, s0, s1)
      .op("sra", a2, s1, s2)
      .op("remu", a1, s2, s3)
      .imm("addi", a0, s0, -2048)
      .imm("sltiu", a1, s3, 7)
      .shift("srai", a0, s1, 31)
      .load("lhu", a0, s4, -4)
      .store("sw", s0, s5, 2047)
      .lui(a0, 0xfffff000)
      .csr("csrrw", zero, 0x180, t0)
      .csr("csrrsi", a0, 0x144, 2)
      .lr(a0, s4)
      .sc(a1, s0, s4)
      .amo("amomaxu", a0, s1, s4)
      .sfenceVma()
      .fence()
      .fenceI()
      .label("back")
      .branch("beq", s2, s3, "back")
      .branch("bgeu", t0, t1, "fwd")
      .jal(ra, "fwd")
      .imm("addi", zero, zero, 0)
      .label("fwd")
      .jalr(zero, a5, 2)
      .la(a0, "back");
    const words = Array.from(new Uint32Array(asm.assemble().buffer), (w) => w.toString(16).padStart(8, "0"));
    expect(words).toEqual([
      "00940533",
      "4124d633",
      "033975b3",
      "80040513",
      "0079b593",
      "41f4d513",
      "ffca5503",
      "7e8aafa3",
      "fffff537",
      "18029073",
      "14416573",
      "100a252f",
      "188a25af",
      "e09a252f",
      "12000073",
      "0ff0000f",
      "0000100f",
      "01390063",
      "0062f663",
      "008000ef",
      "00000013",
      "00278067",
      // auipc a0, 0; addi a0, a0, -20 (back is 5 words before the auipc)
      "00000517",
      "fec50513",
    ]);
  });

  it("loads any 32-bit constant with li (lui + addi, the low part signed)", () => {
    const asm = new Asm(0).li(a0, 0x8000_0800).li(a1, 0x7ff).li(a2, -1).li(t0, 0x1234_5000);
    expect(Array.from(new Uint32Array(asm.assemble().buffer), (w) => w.toString(16))).toEqual([
      "80001537",
      "80050513",
      "7ff00593",
      "fff00613",
      "123452b7",
    ]);
  });

  it("refuses undefined labels and branches out of range", () => {
    expect(() => new Asm(0).jal(zero, "nowhere").assemble()).toThrow(/undefined label/);
    const far = new Asm(0).branch("beq", zero, zero, "far");
    for (let i = 0; i < 1024; i++) far.fence();
    expect(() => far.label("far").assemble()).toThrow(/out of range/);
  });
});
