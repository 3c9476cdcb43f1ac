/* Synchronous exceptions taken in M-mode, each with mcause, mepc and mtval checked:
 *  - illegal instruction (2) for reserved and RV64/F/C/H-only encodings, mtval = the instruction
 *  - breakpoint (3): EBREAK, mtval = 0 or the EBREAK's address
 *  - environment call from M/S/U (11/9/8), mtval = 0, MPP = the calling mode
 *  - instruction address misaligned (0) on taken JAL/JALR/branches to 2-mod-4 targets: reported on
 *    the jump (mepc), mtval = target, rd not written; not-taken branches do not trap
 *  - misaligned loads/stores: either emulated (correct value) or a misaligned/access-fault trap with
 *    mtval = address and no architectural effect
 *  - load/store/fetch access faults (5/7/1) for unmapped physical addresses, mtval = address
 *  - registers other than the trap CSRs survive a trap and MRET. */
#include "skiff_test.h"

/* The instruction at label 98 must raise illegal instruction, with mtval = its own bits. */
#define TEST_ILLEGAL(n, ...)                                                                    \
  li gp, n; EXPECT_TRAP(99f); 98: __VA_ARGS__; j skiff_fail;                                   \
  99: CHECK_CAUSE(CAUSE_ILLEGAL); CHECK_EPC(98b); la t5, 98b; lw t5, 0(t5);                    \
  la t6, skiff_trap; lw t6, TR_TVAL(t6); bne t5, t6, skiff_fail
/* Misaligned load: emulated with the right value, or trapped (4 or 5) with rd untouched. */
#define TEST_MISALIGNED_LD(n, inst, off, expected)                                              \
  li gp, n; la x1, mis_data; addi x10, x1, off; li x14, 0x5a5a; EXPECT_TRAP(99f);              \
  inst x14, off(x1); CLEAR_EXPECT; FAIL_IF_NE(x14, expected); j 96f;                            \
  99: la t5, skiff_trap; lw t5, TR_CAUSE(t5); li t6, CAUSE_MISALIGNED_LOAD; beq t5, t6, 95f;   \
  li t6, CAUSE_LOAD_ACCESS; bne t5, t6, skiff_fail;                                            \
  95: CHECK_TVAL_REG(x10); FAIL_IF_NE(x14, 0x5a5a); 96:
/* Misaligned store: emulated (bytes land little-endian) or trapped (6 or 7) with memory intact. */
#define TEST_MISALIGNED_ST(n, st, ld, off, value)                                               \
  li gp, n; la x1, mis_store; li x2, 0x11111111; sw x2, 0(x1); sw x2, 4(x1);                   \
  addi x10, x1, off; li x2, value; EXPECT_TRAP(99f); st x2, off(x1); CLEAR_EXPECT;             \
  ld x14, off(x1); bne x14, x2, skiff_fail; j 96f;                                             \
  99: la t5, skiff_trap; lw t5, TR_CAUSE(t5); li t6, CAUSE_MISALIGNED_STORE; beq t5, t6, 95f;  \
  li t6, CAUSE_STORE_ACCESS; bne t5, t6, skiff_fail;                                           \
  95: CHECK_TVAL_REG(x10); lw x14, 0(x1); FAIL_IF_NE(x14, 0x11111111); lw x14, 4(x1);          \
  FAIL_IF_NE(x14, 0x11111111); 96:
/* Access fault on a data access to an unmapped physical address. */
#define TEST_ACCESS_FAULT(n, cause, addr, off, inst)                                            \
  li gp, n; li x10, addr - (off); li x14, 0x5a5a; EXPECT_TRAP(99f); 98: inst x14, off(x10);     \
  j skiff_fail;                                                                                \
  99: CHECK_CAUSE(cause); CHECK_EPC(98b); CHECK_TVAL(addr); FAIL_IF_NE(x14, 0x5a5a)

TEST_BEGIN

  /* ---- illegal instructions ---- */
  TEST_ILLEGAL(2, .word 0x00000000)                /* all zeros is defined illegal */
  TEST_ILLEGAL(3, .word 0xffffffff)                /* all ones (ILEN = 32) */
  TEST_ILLEGAL(4, .insn i LOAD, 3, x5, 0(x1))      /* LD: RV64 only */
  TEST_ILLEGAL(5, .insn i LOAD, 6, x5, 0(x1))      /* LWU: RV64 only */
  TEST_ILLEGAL(6, .insn i LOAD, 7, x5, 0(x1))
  TEST_ILLEGAL(7, .insn s STORE, 3, x5, 0(x1))     /* SD */
  TEST_ILLEGAL(8, .insn s STORE, 4, x5, 0(x1))
  TEST_ILLEGAL(9, .insn sb BRANCH, 2, x1, x2, 9f)  /* BRANCH funct3 2 and 3 are reserved */
9: TEST_ILLEGAL(10, .insn sb BRANCH, 3, x1, x2, 9f)
9: TEST_ILLEGAL(11, .insn i JALR, 1, x1, 0(x5))   /* JALR funct3 != 0 */
  TEST_ILLEGAL(12, .word 0x02009093)               /* SLLI x1, x1, 32: shamt[5] set on RV32 */
  TEST_ILLEGAL(13, .word 0x0200d093)               /* SRLI x1, x1, 32 */
  TEST_ILLEGAL(14, .word 0x4200d093)               /* SRAI x1, x1, 32 */
  TEST_ILLEGAL(15, .word 0x40009093)               /* SLLI with imm[11:5] = 0100000 */
  TEST_ILLEGAL(16, .insn r OP, 1, 0x20, x1, x2, x3) /* SLL with funct7 = 0100000 */
  TEST_ILLEGAL(17, .insn r OP, 0, 0x02, x1, x2, x3) /* funct7 = 0000010 */
  TEST_ILLEGAL(18, .insn r OP, 2, 0x20, x1, x2, x3) /* SLT with funct7 = 0100000 */
  TEST_ILLEGAL(19, .insn r OP, 7, 0x20, x1, x2, x3) /* AND with bit 30: ANDN (Zbb) not here */
  TEST_ILLEGAL(20, .insn r OP, 1, 0x30, x1, x2, x3) /* ROL (Zbb) */
  TEST_ILLEGAL(21, .insn r OP, 2, 0x10, x1, x2, x3) /* SH1ADD (Zba) */
  TEST_ILLEGAL(22, .insn r OP, 4, 0x05, x1, x2, x3) /* MIN (Zbb) */
  TEST_ILLEGAL(23, .insn r 0x3b, 0, 0, x1, x2, x3)   /* OP-32 (ADDW): RV64 only */
  TEST_ILLEGAL(24, .insn i 0x1b, 0, x1, x2, 1)       /* OP-IMM-32 (ADDIW): RV64 only */
  TEST_ILLEGAL(25, .insn r AMO, 3, 0x00, x1, x2, x3) /* AMOADD.D: RV64 only */
  TEST_ILLEGAL(26, .insn r AMO, 2, 0x18, x1, x2, x3) /* AMO funct5 00110: unassigned */
  TEST_ILLEGAL(27, .insn r AMO, 2, 0x38, x1, x2, x3) /* AMO funct5 01110: unassigned */
  TEST_ILLEGAL(28, .insn r AMO, 0, 0x00, x1, x2, x3) /* AMO width funct3 = 0 (no Zabha) */
  TEST_ILLEGAL(29, .insn i 0x07, 2, x1, 0(x2))      /* FLW: no F */
  TEST_ILLEGAL(30, .insn s 0x27, 2, x1, 0(x2))      /* FSW */
  TEST_ILLEGAL(31, .insn r 0x53, 0, 0, x1, x2, x3)  /* FADD.S */
  TEST_ILLEGAL(32, .insn r4 0x43, 0, 0, x1, x2, x3, x4) /* FMADD.S */
  TEST_ILLEGAL(33, .insn i MISC_MEM, 2, x0, 0(x5))  /* CBO.INVAL (no Zicbom) */
  TEST_ILLEGAL(34, .insn i MISC_MEM, 3, x0, 0(x5))
  TEST_ILLEGAL(35, .word 0x00200073)               /* URET (N extension is gone) */
  TEST_ILLEGAL(36, .word 0x7b200073)               /* DRET outside debug mode */
  TEST_ILLEGAL(37, .word 0x10000073)               /* SYSTEM funct3 0 with an unknown funct12 */
  TEST_ILLEGAL(38, .insn i SYSTEM, 4, x1, 0(x2))   /* SYSTEM funct3 4 (HLV: no H) */
  TEST_ILLEGAL(39, .insn r OP, 5, 0x21, x1, x2, x3) /* funct7 = 0100001 */
  TEST_ILLEGAL(40, csrr x5, fflags)                /* F CSRs do not exist */
  TEST_ILLEGAL(41, csrw frm, x0)
  TEST_ILLEGAL(42, csrr x5, fcsr)
  TEST_ILLEGAL(43, csrr x5, 0x600)                 /* hstatus: no H */
  TEST_ILLEGAL(44, csrr x5, 0x680)                 /* hgatp */
  TEST_ILLEGAL(45, .word 0x22000073)               /* HFENCE.VVMA: no H */
  TEST_ILLEGAL(46, .insn i MISC_MEM, 7, x0, 0(x0)) /* MISC-MEM funct3 7: reserved */

  /* 16-bit encodings (low bits != 11) are illegal without C; mtval holds the parcel or the
   * word that starts with it. */
  li gp, 50
  EXPECT_TRAP(2f)
1: .word 0x00010001                                /* c.nop, c.nop */
  j skiff_fail
2: CHECK_CAUSE(CAUSE_ILLEGAL)
  CHECK_EPC(1b)
  la t5, skiff_trap
  lw t5, TR_TVAL(t5)
  li t6, 0x00010001
  beq t5, t6, 3f
  FAIL_IF_NE(t5, 0x0001)
3:

  /* ---- EBREAK ---- */
  li gp, 60
  EXPECT_TRAP(2f)
1: ebreak
  j skiff_fail
2: CHECK_CAUSE(CAUSE_BREAKPOINT)
  CHECK_EPC(1b)
  la t5, skiff_trap
  lw t5, TR_TVAL(t5)
  beqz t5, 3f
  la t6, 1b
  bne t5, t6, skiff_fail
3: CHECK_PRIV(PRV_M)

  /* ---- ECALL from M, S, U ---- */
  li gp, 61
  li a7, 0
  EXPECT_TRAP(2f)
1: ecall
  j skiff_fail
2: CHECK_CAUSE(CAUSE_ECALL_M)
  CHECK_EPC(1b)
  CHECK_TVAL(0)
  CHECK_PRIV(PRV_M)
  li gp, 62
  GOTO_MODE(MPP_S)
  li a7, 0
  EXPECT_TRAP(2f)
1: ecall
  j skiff_fail
2: CHECK_CAUSE(CAUSE_ECALL_S)
  CHECK_EPC(1b)
  CHECK_TVAL(0)
  CHECK_PRIV(PRV_S)
  CHECK_HANDLER(PRV_M)
  li gp, 63
  GOTO_MODE(MPP_U)
  li a7, 0
  EXPECT_TRAP(2f)
1: ecall
  j skiff_fail
2: CHECK_CAUSE(CAUSE_ECALL_U)
  CHECK_EPC(1b)
  CHECK_TVAL(0)
  CHECK_PRIV(PRV_U)
  li gp, 64                          /* EBREAK from U also goes to M (nothing delegated) */
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: ebreak
  j skiff_fail
2: CHECK_CAUSE(CAUSE_BREAKPOINT)
  CHECK_EPC(1b)
  CHECK_PRIV(PRV_U)

  /* ---- instruction address misaligned ---- */
  li gp, 70                          /* JAL x1, +6 */
  li x1, 0x1234
  EXPECT_TRAP(2f)
1: .word 0x006000ef
  j skiff_fail
  j skiff_fail
2: CHECK_CAUSE(CAUSE_MISALIGNED_FETCH)
  CHECK_EPC(1b)
  IF_QEMU(3f)                        /* QEMU 7.2: mtval = start of its translation block */
  la x5, 1b + 6
  CHECK_TVAL_REG(x5)
3: FAIL_IF_NE(x1, 0x1234)            /* rd not written */
  li gp, 71                          /* JALR to an address with bit 1 set */
  la x5, 3f
  addi x5, x5, 2
  li x1, 0x1234
  EXPECT_TRAP(2f)
1: jalr x1, 0(x5)
  j skiff_fail
3: j skiff_fail
  j skiff_fail
2: CHECK_CAUSE(CAUSE_MISALIGNED_FETCH)
  CHECK_EPC(1b)
  CHECK_TVAL_REG(x5)
  FAIL_IF_NE(x1, 0x1234)
  li gp, 72                          /* JALR: offset makes it misaligned; bit 0 cleared first */
  la x5, 3f
  li x1, 0x1234
  EXPECT_TRAP(2f)
1: jalr x1, 3(x5)                    /* (x5 + 3) & ~1 = x5 + 2 */
  j skiff_fail
3: j skiff_fail
  j skiff_fail
2: CHECK_CAUSE(CAUSE_MISALIGNED_FETCH)
  CHECK_EPC(1b)
  addi x5, x5, 2
  CHECK_TVAL_REG(x5)
  FAIL_IF_NE(x1, 0x1234)
  li gp, 73                          /* taken BEQ x0, x0, +6 */
  EXPECT_TRAP(2f)
1: .word 0x00000363
  j skiff_fail
  j skiff_fail
2: CHECK_CAUSE(CAUSE_MISALIGNED_FETCH)
  CHECK_EPC(1b)
  IF_QEMU(3f)                        /* QEMU 7.2: mtval = start of its translation block */
  la x5, 1b + 6
  CHECK_TVAL_REG(x5)
3: li gp, 74                          /* taken BLT backwards to -2 */
  li x1, -1
  EXPECT_TRAP(2f)
  nop
1: .word 0xfe00cfe3                  /* blt x1, x0, -2 */
  j skiff_fail
2: CHECK_CAUSE(CAUSE_MISALIGNED_FETCH)
  CHECK_EPC(1b)
  IF_QEMU(3f)
  la x5, 1b - 2
  CHECK_TVAL_REG(x5)
3: li gp, 75                          /* not-taken BNE x0, x0, +6 does not trap */
  .word 0x00001363
  nop
  nop
  li gp, 76                          /* from U-mode too: MPP = U */
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: .word 0x0060006f                  /* jal x0, +6 */
  j skiff_fail
  j skiff_fail
2: CHECK_CAUSE(CAUSE_MISALIGNED_FETCH)
  CHECK_EPC(1b)
  CHECK_PRIV(PRV_U)

  /* ---- misaligned loads and stores ---- */
  TEST_MISALIGNED_LD(80, lh, 1, 0x00003322)
  TEST_MISALIGNED_LD(81, lh, 3, 0xffff8844)
  TEST_MISALIGNED_LD(82, lhu, 3, 0x00008844)
  TEST_MISALIGNED_LD(83, lw, 1, 0x88443322)
  TEST_MISALIGNED_LD(84, lw, 2, 0x55884433)
  TEST_MISALIGNED_LD(85, lw, 3, 0x66558844)
  TEST_MISALIGNED_ST(90, sh, lh, 1, 0xffffabcd)
  TEST_MISALIGNED_ST(91, sh, lhu, 3, 0x0000abcd)
  TEST_MISALIGNED_ST(92, sw, lw, 1, 0x12345678)
  TEST_MISALIGNED_ST(93, sw, lw, 2, 0x9abcdef0)
  TEST_MISALIGNED_ST(94, sw, lw, 3, 0x0f1e2d3c)

  /* ---- access faults ---- */
  TEST_ACCESS_FAULT(100, CAUSE_LOAD_ACCESS, UNMAPPED_PA, 0, lw)
  TEST_ACCESS_FAULT(101, CAUSE_LOAD_ACCESS, UNMAPPED_PA + 0x10, 0x10, lb)
  TEST_ACCESS_FAULT(102, CAUSE_LOAD_ACCESS, UNMAPPED_PA2 + 0x7fe, 0x7fe, lhu)
  TEST_ACCESS_FAULT(103, CAUSE_STORE_ACCESS, UNMAPPED_PA, 0, sw)
  TEST_ACCESS_FAULT(104, CAUSE_STORE_ACCESS, UNMAPPED_PA + 3, 3, sb)
  TEST_ACCESS_FAULT(105, CAUSE_STORE_ACCESS, UNMAPPED_PA2 - 2, -2, sh)
  TEST_ACCESS_FAULT(106, CAUSE_LOAD_ACCESS, 0x00000000, 0, lw)
  li gp, 107                         /* fetch: the jump retires (link written), the fetch faults */
  li x5, UNMAPPED_PA
  li x1, 0
  EXPECT_TRAP(2f)
1: jalr x1, 0(x5)
  j skiff_fail
2: CHECK_CAUSE(CAUSE_FETCH_ACCESS)
  la t5, skiff_trap
  lw t5, TR_EPC(t5)
  FAIL_IF_NE(t5, UNMAPPED_PA)
  CHECK_TVAL(UNMAPPED_PA)
  la x6, 1b + 4
  bne x1, x6, skiff_fail
  li gp, 108                         /* same from U-mode */
  GOTO_MODE(MPP_U)
  li x5, UNMAPPED_PA2
  EXPECT_TRAP(2f)
  jr x5
  j skiff_fail
2: CHECK_CAUSE(CAUSE_FETCH_ACCESS)
  CHECK_TVAL(UNMAPPED_PA2)
  CHECK_PRIV(PRV_U)

  /* ---- a trap and MRET preserve every other register ---- */
  li gp, 110
  li x1, 0x11; li x2, 0x22; li x4, 0x44; li x5, 0x55; li x6, 0x66; li x7, 0x77
  li x8, 0x88; li x9, 0x99; li x10, 0xaa; li x11, 0xbb; li x12, 0xcc; li x13, 0xdd
  li x14, 0xee; li x15, 0xff; li x16, 0x116; li x17, 0x117; li x18, 0x118; li x19, 0x119
  li x20, 0x120; li x21, 0x121; li x22, 0x122; li x23, 0x123; li x24, 0x124; li x25, 0x125
  li x26, 0x126; li x27, 0x127; li x28, 0x128; li x29, 0x129
  EXPECT_TRAP(2f)
  ebreak
2: FAIL_IF_NE(x1, 0x11); FAIL_IF_NE(x2, 0x22); FAIL_IF_NE(x4, 0x44); FAIL_IF_NE(x5, 0x55)
  FAIL_IF_NE(x6, 0x66); FAIL_IF_NE(x7, 0x77); FAIL_IF_NE(x8, 0x88); FAIL_IF_NE(x9, 0x99)
  FAIL_IF_NE(x10, 0xaa); FAIL_IF_NE(x11, 0xbb); FAIL_IF_NE(x12, 0xcc); FAIL_IF_NE(x13, 0xdd)
  FAIL_IF_NE(x14, 0xee); FAIL_IF_NE(x15, 0xff); FAIL_IF_NE(x16, 0x116); FAIL_IF_NE(x17, 0x117)
  FAIL_IF_NE(x18, 0x118); FAIL_IF_NE(x19, 0x119); FAIL_IF_NE(x20, 0x120); FAIL_IF_NE(x21, 0x121)
  FAIL_IF_NE(x22, 0x122); FAIL_IF_NE(x23, 0x123); FAIL_IF_NE(x24, 0x124); FAIL_IF_NE(x25, 0x125)
  FAIL_IF_NE(x26, 0x126); FAIL_IF_NE(x27, 0x127); FAIL_IF_NE(x28, 0x128); FAIL_IF_NE(x29, 0x129)

TEST_END

  .data
  .balign 16
mis_data:
  .word 0x44332211, 0x77665588, 0
mis_store:
  .word 0, 0, 0
