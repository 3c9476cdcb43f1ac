/**
 * A firmware-mode test guest for the agent's tests: prints "fw ready", then sleeps in WFI until the
 * UART raises its receive interrupt (PLIC irq 10, M-mode context), echoes each byte and counts them.
 * '?' prints the count as 8 hex digits and a newline; 'q' powers off through HTIF (tohost = 1).
 * The count lives in a register, so it survives suspend/resume only if the CPU state does.
 */
import { Asm, elf32, X } from "./rv32-asm.js";

const BASE = 0x8000_0000;
const MIE = 0x304;

export function echoFirmware(): Uint8Array {
  const a = new Asm(BASE);
  const { zero, ra, t0, t1, t2, t3, t4, t5, t6, s0, s1, s2, s3, a0, a1 } = X;
  a.lui(s0, 0x10000); // UART
  a.la(a0, "banner").jal(ra, "puts");
  a.addi(t0, zero, 1).sb(t0, s0, 1); // IER: receive data available
  a.lui(s1, 0x0c000).sw(t0, s1, 40); // PLIC priority[10] = 1
  a.lui(t1, 0x0c002).addi(t2, zero, 1024).sw(t2, t1, 0); // enable irq 10, context 0 (M)
  a.lui(s2, 0x0c200).sw(zero, s2, 0).addi(s2, s2, 4); // threshold 0; s2 = claim/complete
  a.addi(t0, zero, 1).slli(t0, t0, 11).csrrs(zero, MIE, t0); // mie.MEIE
  a.label("loop").wfi().lw(t3, s2, 0);
  a.label("rx").lbu(t0, s0, 5).andi(t0, t0, 1).beq(t0, zero, "done");
  a.lbu(t1, s0, 0).addi(s3, s3, 1);
  a.addi(t2, zero, 0x71).beq(t1, t2, "quit"); // 'q'
  a.addi(t2, zero, 0x3f).beq(t1, t2, "report"); // '?'
  a.sb(t1, s0, 0).jal(zero, "rx");
  a.label("report").jal(ra, "puthex").jal(zero, "rx");
  a.label("done").beq(t3, zero, "loop").sw(t3, s2, 0).jal(zero, "loop");
  a.label("quit").la(a1, "tohost").addi(t0, zero, 1).sw(t0, a1, 0);
  a.label("halt").jal(zero, "halt");
  a.label("puts").lbu(t0, a0, 0).beq(t0, zero, "ret").sb(t0, s0, 0).addi(a0, a0, 1).jal(zero, "puts");
  a.label("ret").jalr(zero, ra, 0);
  a.label("puthex").addi(t4, zero, 28);
  a.label("ph").srl(t5, s3, t4).andi(t5, t5, 15).addi(t6, zero, 10).blt(t5, t6, "dig");
  a.addi(t5, t5, 87).jal(zero, "out");
  a.label("dig").addi(t5, t5, 48);
  a.label("out").sb(t5, s0, 0).addi(t4, t4, -4).bge(t4, zero, "ph");
  a.addi(t5, zero, 10).sb(t5, s0, 0).jalr(zero, ra, 0);
  a.label("banner").bytes(Buffer.from("fw ready\n\0"));
  a.align(8).label("tohost").bytes(new Uint8Array(8)).label("fromhost").bytes(new Uint8Array(8));
  return elf32(BASE, BASE, a.assemble(), { tohost: a.address("tohost"), fromhost: a.address("fromhost") });
}
