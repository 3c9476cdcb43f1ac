import { SkiffError } from "@skiff/common";
import { AMO_OPS, Asm, BRANCH_OPS, IMM_OPS_LIST, LOAD_OPS, REG_OPS, STORE_OPS } from "../cpu/asm.js";
import { Csr, MS } from "../cpu/csr-numbers.js";
import { KERNEL_LOAD_ADDRESS } from "../loader/linux-image.js";

/**
 * A small hypervisor-mode guest (a Linux `Image` by its header) that runs, in S- and U-mode under
 * Sv32, every path of the interpreter a Linux boot takes: each ALU op with small and wide operands,
 * every load and store width aligned, misaligned and across pages, TLB misses and A/D updates,
 * page faults, illegal instructions, AMOs, CSRs, SBI calls, the UART, the PLIC, each interrupt and
 * a WFI that idles until console input (first, before the passes). `WARM_UP_INPUT` is that input.
 *
 * Why: V8 optimizes the interpreter's loop with the type feedback it has gathered so far, and
 * throws the optimized code away the first time a path without feedback runs. A Linux boot finds
 * its paths one by one over ~19 M instructions: cold, the loop was recompiled ~13 times (tens of
 * milliseconds of compiler time each) and ran unoptimized in between. Running this guest first
 * gives every path feedback in a few thousand instructions, and the boot keeps the first code V8
 * compiles for the loop.
 */

/** Registers by ABI name (t0-t2 belong to the trap handler). */
const zero = 0;
const ra = 1;
const t0 = 5;
const t1 = 6;
const t2 = 7;
const s0 = 8;
const s1 = 9;
const a0 = 10;
const a1 = 11;
const a2 = 12;
const a3 = 13;
const a4 = 14;
const a5 = 15;
const a6 = 16;
const a7 = 17;
const s2 = 18;
const s3 = 19;
const s4 = 20;
const s5 = 21;
const s6 = 22;
const s7 = 23;
const s8 = 24;
const s9 = 25;
const s11 = 27;

const KERNEL = KERNEL_LOAD_ADDRESS;
const PAGE = 4096;
/** Pages of the image, from the load address (virtual = physical). */
const U_CODE = KERNEL + 2 * PAGE;
const DATA = KERNEL + 3 * PAGE; // and the next page, S read-write
const U_DATA = KERNEL + 5 * PAGE;
/** Mapped without A and D: the first load and the first store update the PTE. */
const AD_PAGE = KERNEL + 6 * PAGE;
const ROOT_TABLE = KERNEL + 7 * PAGE;
const LEAF_TABLE = KERNEL + 8 * PAGE;
const IMAGE_SIZE = 9 * PAGE;
/** Mapped nowhere. */
const UNMAPPED = 0x4000_0000;
const UART = 0x1000_0000;
const PLIC = 0x0c00_0000;
const VIRTIO = 0x1000_1000;
const UART_IRQ = 10;
/**
 * How many times the body runs: V8 records feedback for a function only from about its eighth
 * call, and some paths here are a call each per pass (a division, a CSR, an SBI extension).
 */
const PASSES = 10;

const PTE_V = 1;
const PTE_R = 2;
const PTE_W = 4;
const PTE_X = 8;
const PTE_U = 16;
const PTE_AD = 64 | 128;

const SBI = { base: 0x10, time: 0x54494d45, ipi: 0x735049, rfence: 0x52464e43, hsm: 0x48534d };

/** The UART's interrupt at priority 1, enabled for the hart's S-mode context. */
function plicEnableUart(asm: Asm): void {
  asm
    .li(a3, PLIC)
    .li(a0, 1)
    .store("sw", a0, a3, 4 * UART_IRQ);
  asm
    .li(a3, PLIC + 0x2080)
    .li(a0, 1 << UART_IRQ)
    .store("sw", a0, a3, 0);
}

function pte(paddr: number, flags: number): number {
  return ((paddr >>> 12) << 10) | flags;
}

/** a7 = eid, a6 = fid, a0.. = args, then ecall (answered by hv-core's SBI). */
function sbiCall(asm: Asm, eid: number, fid: number, ...args: number[]): void {
  asm.li(a7, eid).li(a6, fid);
  args.forEach((v, i) => {
    asm.li(a0 + i, v);
  });
  asm.ecall();
}

/** The S-mode part: header, body, trap handler. */
function supervisorCode(): Uint8Array {
  const asm = new Asm(KERNEL);
  // RISC-V Linux Image header (Documentation/riscv/boot-image-header.rst): a jump over it, the
  // image size at 16, the magic "RSC\x05" at 56.
  asm.jal(zero, "entry");
  for (let off = 4; off < 64; off += 4)
    asm.word(
      off === 16 ? IMAGE_SIZE : off === 48 ? 0x43534952 : off === 52 ? 0x56 : off === 56 ? 0x05435352 : 0,
    );
  asm.label("entry");
  asm.la(t0, "trap").csr("csrrw", zero, Csr.stvec, t0);
  asm
    .li(t0, 0x8000_0000 | (ROOT_TABLE >>> 12) | 0)
    .csr("csrrw", zero, Csr.satp, t0)
    .sfenceVma();
  asm.li(t0, (1 << 1) | (1 << 5) | (1 << 9)).csr("csrrs", zero, Csr.sie, t0);
  // First a WFI that idles the machine until console input (the UART's receive interrupt through
  // the PLIC, SIE off) wakes it; the byte is read and the PLIC's claim completed. Idling first:
  // V8 compiles the loop during the passes and dropped that compile (~100-140 ms of compiler time)
  // when a field the loop reads was first written after it began (the hart's waitingForInterrupt,
  // at the guest's first idle).
  plicEnableUart(asm);
  asm.li(a3, UART).li(a0, 1).store("sb", a0, a3, 1).wfi().load("lbu", a0, a3, 0).store("sb", zero, a3, 1);
  asm
    .li(a3, PLIC + 0x20_1004)
    .load("lw", a0, a3, 0)
    .store("sw", a0, a3, 0);
  asm.li(s11, PASSES);
  asm.label("pass");

  // ALU, every op: small operands (Smis to V8), wide ones (heap numbers) and sums that overflow
  // 32 bits, or V8 speculates on small integers and deoptimizes at the first wide value.
  asm.li(s0, 0x7fff_ffff).li(s1, 0x8000_0001).li(s2, 5).li(s3, -3);
  for (const op of REG_OPS)
    asm.op(op, a0, s0, s1).op(op, a1, s2, s3).op(op, a2, s1, s2).op(op, a0, s0, s0).op(op, a1, s1, s0);
  asm.li(a3, 0x8000_0000).li(a4, -1).op("div", a0, a3, a4).op("rem", a0, a3, a4).op("divu", a0, s0, zero);
  for (const op of IMM_OPS_LIST) asm.imm(op, a0, s0, 0x123).imm(op, a1, s3, -7).imm(op, a2, s1, -2048);
  for (const op of ["slli", "srli", "srai"] as const) asm.shift(op, a0, s1, 3).shift(op, a1, s2, 31);
  asm.lui(a0, 0xfffff000);

  // Loads and stores: every width, aligned, misaligned, across a page, through a megapage.
  // Each first after a TLB flush (the slow path), then again (the TLB's fast path).
  asm.li(s4, DATA);
  for (const op of STORE_OPS) asm.sfenceVma().store(op, s1, s4, 0).store(op, s2, s4, 8);
  for (const op of LOAD_OPS) asm.sfenceVma().load(op, a0, s4, 0).load(op, a1, s4, 8);
  for (const op of STORE_OPS) asm.store(op, s0, s4, 17);
  for (const op of LOAD_OPS) asm.load(op, a0, s4, 17);
  asm
    .li(s5, DATA + PAGE - 2)
    .load("lw", a0, s5, 0)
    .store("sw", s0, s5, 0);
  asm.li(s6, 0x8000_1000).load("lw", a0, s6, 0).store("sw", a0, s6, 0);
  // A/D updates: clear them in the PTE, fence, load, store.
  asm.li(s7, LEAF_TABLE + 4 * ((AD_PAGE - KERNEL) / PAGE)).li(a0, pte(AD_PAGE, PTE_V | PTE_R | PTE_W));
  asm.store("sw", a0, s7, 0).sfenceVma();
  asm.li(s8, AD_PAGE).load("lw", a0, s8, 0).store("sw", a0, s8, 4);

  // Faults, each skipped by the handler: loads and stores unmapped or read-only, a fetch unmapped
  // or from a U page, illegal and reserved encodings, a breakpoint, misaligned jumps.
  asm.li(s9, UNMAPPED).load("lw", a0, s9, 0).store("sw", a0, s9, 0);
  asm.li(a3, KERNEL).store("sw", a0, a3, 0);
  asm.jalr(ra, s9, 0);
  asm.li(a3, U_CODE).jalr(ra, a3, 0);
  for (const w of [-1, 0x4000_1013, 0x2000_5013, 0x0400_0033, 0x0000_2063, 0x0000_200f, 0x0000_1067])
    asm.word(w);
  asm.csr("csrrs", a0, 0x5ff, zero).csr("csrrs", a0, Csr.mstatus, zero).mret().ebreak();
  asm.la(a5, "after_misaligned").jalr(zero, a5, 2);
  asm.label("after_misaligned");
  asm.word(0x0020_006f); // jal x0, +2
  asm.word(0x0000_0163); // beq x0, x0, +2

  // Branches, each taken and not, and a call.
  const pairs: [number, number][] = [
    [s2, s2],
    [s2, s3],
    [s3, s2],
    [s0, s1],
    [s1, s0],
  ];
  let n = 0;
  for (const op of BRANCH_OPS)
    for (const [x, y] of pairs) {
      asm.branch(op, x, y, `b${n}`).label(`b${n}`);
      n++;
    }
  asm.jal(ra, "leaf");

  // AMOs and LR/SC (a successful SC, a failed one), misaligned and unmapped ones.
  asm.lr(a0, s4).sc(a1, s0, s4).sc(a1, s0, s4);
  for (const op of AMO_OPS) asm.amo(op, a0, s1, s4).amo(op, a0, s2, s4);
  asm.imm("addi", a3, s4, 2).amo("amoadd", a0, s0, a3).amo("amoadd", a0, s0, s9);
  asm.fence().fenceI();

  // CSRs the kernel reads and writes.
  for (const c of [Csr.time, Csr.timeh, Csr.cycle, Csr.cycleh, Csr.instret, Csr.instreth, 0xc03])
    asm.csr("csrrs", a0, c, zero);
  asm
    .csr("csrrw", a0, Csr.sscratch, s0)
    .csr("csrrs", a0, Csr.sscratch, s2)
    .csr("csrrc", a0, Csr.sscratch, s2);
  asm
    .csr("csrrwi", a0, Csr.sscratch, 5)
    .csr("csrrsi", a0, Csr.sscratch, 3)
    .csr("csrrci", a0, Csr.sscratch, 1);
  for (const c of [Csr.sepc, Csr.scause, Csr.stval, Csr.stvec, Csr.sstatus, Csr.sie, Csr.sip, Csr.satp])
    asm.csr("csrrs", a0, c, zero);
  for (const c of [Csr.sepc, Csr.scause, Csr.stval, Csr.senvcfg]) asm.csr("csrrw", zero, c, zero);
  // SUM: S reads and writes a U page, then may not.
  asm.li(a2, MS.SUM).csr("csrrs", zero, Csr.sstatus, a2).li(s6, U_DATA);
  asm.load("lw", a1, s6, 0).store("sw", a1, s6, 4).csr("csrrc", zero, Csr.sstatus, a2).load("lw", a1, s6, 0);
  asm.li(a2, MS.MXR).csr("csrrs", zero, Csr.sstatus, a2).csr("csrrc", zero, Csr.sstatus, a2);

  // SBI: what Linux probes and calls.
  for (let fid = 0; fid <= 6; fid++) sbiCall(asm, SBI.base, fid, SBI.time);
  sbiCall(asm, SBI.hsm, 2, 0);
  sbiCall(asm, SBI.rfence, 0, 1, 0);
  sbiCall(asm, SBI.rfence, 1, 1, 0, 0, -1);
  sbiCall(asm, 1, 0, 0x2e); // legacy putchar
  sbiCall(asm, 0x1234_5678, 0); // not an extension

  // Interrupts with SIE on: software (sip, an SBI IPI), timer, external (the UART's THRE through
  // the PLIC); a WFI with one pending.
  asm.li(a2, MS.SIE).csr("csrrs", zero, Csr.sstatus, a2);
  asm.csr("csrrsi", zero, Csr.sip, 2);
  sbiCall(asm, SBI.ipi, 0, 1, 0);
  sbiCall(asm, SBI.time, 0, 0, 0);
  sbiCall(asm, SBI.time, 0, -1, -1);
  asm.li(a2, 1 << 5).csr("csrrs", zero, Csr.sie, a2);
  asm.li(a2, MS.SIE).csr("csrrc", zero, Csr.sstatus, a2);
  sbiCall(asm, SBI.time, 0, 0, 0);
  asm.wfi().csr("csrrs", zero, Csr.sstatus, a2);
  sbiCall(asm, SBI.time, 0, -1, -1);
  asm.li(a2, 1 << 5).csr("csrrs", zero, Csr.sie, a2);
  plicEnableUart(asm);
  asm.li(a3, PLIC + 0x20_1000).store("sw", zero, a3, 0);
  asm.li(a3, UART);
  for (const r of [1, 2, 3, 4, 5, 6, 7]) asm.load("lbu", a0, a3, r);
  asm.li(a0, 3).store("sb", a0, a3, 3).store("sb", a0, a3, 7).li(a0, 0x57).store("sb", a0, a3, 0);
  asm.li(a0, 2).store("sb", a0, a3, 1);
  asm.li(a3, VIRTIO);
  for (const r of [0, 4, 8, 12]) asm.load("lw", a0, a3, r);

  // U-mode: sret into the U page; its ecall comes back to u_return.
  asm
    .li(a0, U_CODE)
    .csr("csrrw", zero, Csr.sepc, a0)
    .li(a0, MS.SPP)
    .csr("csrrc", zero, Csr.sstatus, a0)
    .sret();
  asm.label("u_return");

  asm.imm("addi", s11, s11, -1).branch("beq", s11, zero, "done").jal(zero, "pass").label("done");
  // The end: a WFI with nothing pending idles the machine for good.
  asm.wfi();
  asm.label("leaf").imm("addi", a0, a0, 1).jalr(zero, ra, 0);

  // Trap handler (t0-t2 are its own): exceptions skip the instruction; a fetch fault returns to
  // ra; U's ecall returns to u_return in S; interrupts are acknowledged.
  asm.label("trap").csr("csrrs", t0, Csr.scause, zero).branch("blt", t0, zero, "irq");
  asm.li(t1, 8).branch("beq", t0, t1, "from_u").li(t1, 12).branch("beq", t0, t1, "fetch_fault");
  asm.csr("csrrs", t1, Csr.sepc, zero).imm("addi", t1, t1, 4).csr("csrrw", zero, Csr.sepc, t1).sret();
  asm.label("fetch_fault").csr("csrrw", zero, Csr.sepc, ra).sret();
  asm.label("from_u").li(t1, MS.SPP).csr("csrrs", zero, Csr.sstatus, t1);
  asm.la(t1, "u_return").csr("csrrw", zero, Csr.sepc, t1).sret();
  asm.label("irq").shift("slli", t0, t0, 1).shift("srli", t0, t0, 1);
  asm.li(t1, 1).branch("beq", t0, t1, "ssi").li(t1, 5).branch("beq", t0, t1, "sti");
  asm
    .li(t1, PLIC + 0x20_1004)
    .load("lw", t2, t1, 0)
    .li(t0, UART)
    .store("sb", zero, t0, 1);
  asm.store("sw", t2, t1, 0).sret();
  asm.label("ssi").csr("csrrci", zero, Csr.sip, 2).sret();
  asm
    .label("sti")
    .li(t1, 1 << 5)
    .csr("csrrc", zero, Csr.sie, t1)
    .sret();
  return asm.assemble();
}

/** The U-mode page: arithmetic, its own data, a counter, faults, then ecall back to S. */
function userCode(): Uint8Array {
  const asm = new Asm(U_CODE);
  asm.imm("addi", a0, a0, 1).op("add", a1, a0, s0).op("mul", a1, a1, a0);
  asm.li(a2, U_DATA).store("sw", a0, a2, 0).load("lw", a1, a2, 0).load("lbu", a1, a2, 1);
  asm.csr("csrrs", a0, Csr.cycle, zero).csr("csrrs", a0, Csr.time, zero).csr("csrrs", a0, Csr.instret, zero);
  asm.load("lw", a1, s4, 0).csr("csrrs", a0, Csr.sstatus, zero).wfi();
  asm.ecall();
  return asm.assemble();
}

function pageTables(image: Uint8Array): void {
  const words = new Int32Array(image.buffer, image.byteOffset, image.byteLength >>> 2);
  const root = (ROOT_TABLE - KERNEL) / 4;
  const leaf = (LEAF_TABLE - KERNEL) / 4;
  const megapage = PTE_V | PTE_R | PTE_W | PTE_AD;
  words[root + 0x200] = pte(0x8000_0000, megapage | PTE_X);
  words[root + (KERNEL >>> 22)] = pte(LEAF_TABLE, PTE_V);
  words[root + (PLIC >>> 22)] = pte(PLIC, megapage);
  words[root + (UART >>> 22)] = pte(UART, megapage);
  const data = PTE_V | PTE_R | PTE_W | PTE_AD;
  const flags = [
    PTE_V | PTE_R | PTE_X | PTE_AD,
    PTE_V | PTE_R | PTE_X | PTE_AD,
    PTE_V | PTE_R | PTE_X | PTE_U | PTE_AD,
    data,
    data,
    data | PTE_U,
    PTE_V | PTE_R | PTE_W,
    data,
    data,
  ];
  flags.forEach((f, i) => {
    words[leaf + i] = pte(KERNEL + i * PAGE, f);
  });
}

/** What the runner types once the guest first idles. */
export const WARM_UP_INPUT = Uint8Array.of(0x0d);

/** The warm-up guest as a Linux Image (load it with the machine's usual hypervisor-mode boot). */
export function warmUpImage(): Uint8Array {
  const image = new Uint8Array(IMAGE_SIZE);
  const code = supervisorCode();
  if (code.length > 2 * PAGE)
    throw new SkiffError("WARM_UP_GUEST_TOO_LARGE", "warm-up guest: S code larger than its two pages");
  image.set(code, 0);
  image.set(userCode(), U_CODE - KERNEL);
  pageTables(image);
  return image;
}
