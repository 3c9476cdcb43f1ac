/* Zicsr instruction semantics: CSRRW CSRRS CSRRC CSRRWI CSRRSI CSRRCI (old value to rd, new value
 * to the CSR, 5-bit immediates zero-extended, rd == rs1), and the access rules:
 *  - CSRRS/CSRRC with rs1 = x0 and CSRRSI/CSRRCI with uimm = 0 do not write, so they may read
 *    read-only CSRs; any other form (even with a zero value, even with rd = x0) is a write and
 *    traps on a read-only CSR (csr[11:10] = 11)
 *  - CSRs above the current privilege (csr[9:8]) are illegal: M CSRs from S and U, S CSRs from U
 *  - non-existent CSRs are illegal; mtval holds the instruction bits in every case. */
#include "skiff_test.h"

#define TEST_CSR_ILLEGAL(n, ...)                                                                \
  li gp, n; li x5, 0x5a5a; EXPECT_TRAP(99f); 98: __VA_ARGS__; j skiff_fail;                    \
  99: CHECK_CAUSE(CAUSE_ILLEGAL); CHECK_EPC(98b); la t5, 98b; lw t5, 0(t5);                    \
  la t6, skiff_trap; lw t6, TR_TVAL(t6); bne t5, t6, skiff_fail; FAIL_IF_NE(x5, 0x5a5a)
/* Same, from U or S (the handler comes back in M). */
#define TEST_CSR_ILLEGAL_IN(n, mpp, ...)                                                        \
  li gp, n; GOTO_MODE(mpp); li x5, 0x5a5a; EXPECT_TRAP(99f); 98: __VA_ARGS__; j skiff_fail;    \
  99: CHECK_CAUSE(CAUSE_ILLEGAL); CHECK_EPC(98b); la t5, 98b; lw t5, 0(t5);                    \
  la t6, skiff_trap; lw t6, TR_TVAL(t6); bne t5, t6, skiff_fail; FAIL_IF_NE(x5, 0x5a5a)

TEST_BEGIN

  /* ---- CSRRW ---- */
  li gp, 2
  li x6, 0x12345678
  csrw mscratch, x6
  li x7, 0xcafef00d
  csrrw x5, mscratch, x7
  FAIL_IF_NE(x5, 0x12345678)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0xcafef00d)
  li gp, 3                      /* rd == rs1: swap */
  li x5, 0x0badc0de
  csrrw x5, mscratch, x5
  FAIL_IF_NE(x5, 0xcafef00d)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x0badc0de)
  li gp, 4                      /* rs1 = x0 writes zero */
  csrrw x5, mscratch, x0
  FAIL_IF_NE(x5, 0x0badc0de)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0)

  /* ---- CSRRS / CSRRC ---- */
  li gp, 5
  li x6, 0xf0f0f0f0
  csrw mscratch, x6
  li x7, 0x0000ffff
  csrrs x5, mscratch, x7
  FAIL_IF_NE(x5, 0xf0f0f0f0)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0xf0f0ffff)
  li gp, 6
  li x7, 0xff0000ff
  csrrc x5, mscratch, x7
  FAIL_IF_NE(x5, 0xf0f0ffff)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x00f0ff00)
  li gp, 7                      /* rs1 = x0: read only */
  csrrs x5, mscratch, x0
  FAIL_IF_NE(x5, 0x00f0ff00)
  csrrc x5, mscratch, x0
  FAIL_IF_NE(x5, 0x00f0ff00)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x00f0ff00)
  li gp, 8                      /* rd = x0 still writes */
  li x7, 0x1
  csrrs x0, mscratch, x7
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x00f0ff01)
  li x7, 0x00f00000
  csrrc x0, mscratch, x7
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x0000ff01)

  /* ---- immediate forms: 5-bit zero-extended ---- */
  li gp, 10
  csrrwi x5, mscratch, 31
  FAIL_IF_NE(x5, 0x0000ff01)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x1f)          /* not sign-extended */
  li gp, 11
  li x6, 0x80000000
  csrw mscratch, x6
  csrrsi x5, mscratch, 0x15
  FAIL_IF_NE(x5, 0x80000000)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x80000015)
  li gp, 12
  csrrci x5, mscratch, 0x05
  FAIL_IF_NE(x5, 0x80000015)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x80000010)
  li gp, 13                     /* uimm = 0: no write */
  csrrsi x5, mscratch, 0
  csrrci x5, mscratch, 0
  FAIL_IF_NE(x5, 0x80000010)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x80000010)
  li gp, 14
  csrrwi x0, mscratch, 0
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0)
  li gp, 15                     /* sscratch is a separate register */
  li x6, 0x11110000
  csrw sscratch, x6
  li x6, 0x00002222
  csrw mscratch, x6
  csrr x5, sscratch
  FAIL_IF_NE(x5, 0x11110000)
  csrr x5, mscratch
  FAIL_IF_NE(x5, 0x00002222)
  RESTORE_SCRATCH

  /* ---- read-only CSRs: reads without a write are fine ---- */
  li gp, 20
  csrrs x5, mvendorid, x0
  csrrc x5, marchid, x0
  csrrsi x5, mimpid, 0
  csrrci x5, mhartid, 0
  FAIL_IF_NE(x5, 0)             /* single hart: mhartid 0 */
  csrr x5, cycle
  csrr x5, instret
  csrr x5, cycleh
  csrr x5, instreth
  csrr x5, mconfigptr
  IF_QEMU(1f)                   /* QEMU's spike machine has no time CSR (M-mode would emulate it) */
  csrr x5, time
  csrr x5, timeh
1:
  CHECK_WORD(skiff_trap + TR_COUNT, 0)   /* none of those trapped */

  /* ---- writes to read-only CSRs trap, whatever the value ---- */
  TEST_CSR_ILLEGAL(30, csrrw x5, mvendorid, x0)
  TEST_CSR_ILLEGAL(31, csrw marchid, x0)           /* rd = x0 */
  TEST_CSR_ILLEGAL(32, csrrs x5, mimpid, x7)       /* x7 != 0 */
  li x8, 0
  /* rs1 != x0 holding zero: still a write. QEMU 7.2 decides by the value and does not trap. */
  IF_QEMU(1f)
  TEST_CSR_ILLEGAL(33, csrrs x5, mhartid, x8)
  TEST_CSR_ILLEGAL(34, csrrc x5, mhartid, x8)
1:
  TEST_CSR_ILLEGAL(35, csrrwi x5, mhartid, 0)
  TEST_CSR_ILLEGAL(36, csrrsi x5, mvendorid, 1)
  TEST_CSR_ILLEGAL(37, csrrci x5, marchid, 4)
  TEST_CSR_ILLEGAL(38, csrw cycle, x8)
  TEST_CSR_ILLEGAL(39, csrw time, x8)
  TEST_CSR_ILLEGAL(40, csrw instret, x8)
  TEST_CSR_ILLEGAL(41, csrw cycleh, x8)
  TEST_CSR_ILLEGAL(42, csrs timeh, x8)
  TEST_CSR_ILLEGAL(43, csrwi instreth, 0)
  TEST_CSR_ILLEGAL(44, csrw mconfigptr, x8)

  /* ---- non-existent CSRs ---- */
  TEST_CSR_ILLEGAL(50, csrr x5, fflags)
  TEST_CSR_ILLEGAL(51, csrr x5, 0x600)             /* hstatus */
  TEST_CSR_ILLEGAL(52, csrw 0x6c0, x8)             /* unallocated H-mode address */

  /* ---- privilege: M CSRs from S and U, S CSRs from U ---- */
  TEST_CSR_ILLEGAL_IN(60, MPP_S, csrr x5, mscratch)
  TEST_CSR_ILLEGAL_IN(61, MPP_S, csrw mscratch, x0)
  TEST_CSR_ILLEGAL_IN(62, MPP_S, csrr x5, mstatus)
  TEST_CSR_ILLEGAL_IN(63, MPP_S, csrr x5, mhartid)
  TEST_CSR_ILLEGAL_IN(64, MPP_S, csrr x5, mepc)
  TEST_CSR_ILLEGAL_IN(65, MPP_S, csrr x5, mcycle)
  TEST_CSR_ILLEGAL_IN(66, MPP_U, csrr x5, mscratch)
  TEST_CSR_ILLEGAL_IN(67, MPP_U, csrr x5, sscratch)
  TEST_CSR_ILLEGAL_IN(68, MPP_U, csrw sstatus, x0)
  TEST_CSR_ILLEGAL_IN(69, MPP_U, csrr x5, satp)
  TEST_CSR_ILLEGAL_IN(70, MPP_U, csrr x5, stvec)
  TEST_CSR_ILLEGAL_IN(71, MPP_U, csrr x5, mhartid)
  TEST_CSR_ILLEGAL_IN(72, MPP_U, csrr x5, medeleg)

  /* ---- S CSRs from S work ---- */
  li gp, 80
  GOTO_MODE(MPP_S)
  li x6, 0x5555aaaa
  csrw sscratch, x6
  csrr x5, sscratch
  FAIL_IF_NE(x5, 0x5555aaaa)
  csrrw x5, sscratch, x0
  FAIL_IF_NE(x5, 0x5555aaaa)
  la x6, skiff_sstack_top
  csrw sscratch, x6
  csrr x5, sepc
  csrr x5, scause
  csrr x5, stval
  csrr x5, sstatus
  csrr x5, sie
  csrr x5, sip
  csrr x5, stvec
  csrr x5, scounteren
  csrr x5, satp
  GOTO_M

TEST_END
