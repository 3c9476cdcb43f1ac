/* Exception delegation with medeleg: delegated exceptions from U and S go to stvec with scause,
 * sepc, stval (instruction bits / address / 0), SPP = old mode, SPIE = old SIE, SIE = 0; the same
 * exceptions raised in M stay in M; undelegated ones from U/S still go to M. */
#include "skiff_test.h"

/* Run `code` in mode `mpp`; it must trap to the S handler (resuming in S) with cause c and
 * sepc = the code's address; afterwards we are back in M with scause = c. */
#define TEST_S_TRAP(n, mpp, c, ...)                                                             \
  li gp, n; GOTO_MODE(mpp); EXPECT_TRAP(99f);                                                  \
  98: __VA_ARGS__; j skiff_fail; 99: CHECK_HANDLER(PRV_S); CHECK_CAUSE(c); CHECK_EPC(98b);     \
  CHECK_PRIV((mpp) >> 11); GOTO_M; csrr t0, scause; FAIL_IF_NE(t0, c)

#define DELEGATED ((1 << CAUSE_MISALIGNED_FETCH) | (1 << CAUSE_FETCH_ACCESS) | (1 << CAUSE_ILLEGAL) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_LOAD_ACCESS) | (1 << CAUSE_STORE_ACCESS) | (1 << CAUSE_ECALL_U))

TEST_BEGIN

  li t0, DELEGATED
  csrw medeleg, t0

  /* ---- from U ---- */
  TEST_S_TRAP(2, MPP_U, CAUSE_ILLEGAL, .word 0)
  csrr t0, stval
  bnez t0, skiff_fail             /* the instruction bits: zero */
  li gp, 3                        /* SPIE <- SIE, SIE <- 0, SPP <- U; stval = instruction */
  csrsi mstatus, MSTATUS_SIE      /* sie = 0: no interrupt can be taken */
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: csrr t1, sstatus
  j skiff_fail
2: CHECK_HANDLER(PRV_S)
  CHECK_CAUSE(CAUSE_ILLEGAL)
  CHECK_EPC(1b)
  CHECK_STATUS(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE)
  la t5, 1b
  lw t5, 0(t5)
  CHECK_TVAL_REG(t5)
  GOTO_M
  csrci mstatus, MSTATUS_SIE
  TEST_S_TRAP(4, MPP_U, CAUSE_BREAKPOINT, ebreak)
  TEST_S_TRAP(5, MPP_U, CAUSE_ECALL_U, li a7, 0; 98: ecall)
  csrr t0, stval
  bnez t0, skiff_fail
  TEST_S_TRAP(6, MPP_U, CAUSE_LOAD_ACCESS, li t1, UNMAPPED_PA + 8; 98: lw t2, 0(t1))
  csrr t0, stval
  FAIL_IF_NE(t0, UNMAPPED_PA + 8)
  TEST_S_TRAP(7, MPP_U, CAUSE_STORE_ACCESS, li t1, UNMAPPED_PA2; 98: sb t2, 5(t1))
  csrr t0, stval
  FAIL_IF_NE(t0, UNMAPPED_PA2 + 5)
  li gp, 8                        /* misaligned fetch: sepc = the jump, stval = target */
  la t1, 3f + 2
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: jr t1
3: j skiff_fail
  j skiff_fail
2: CHECK_HANDLER(PRV_S)
  CHECK_CAUSE(CAUSE_MISALIGNED_FETCH)
  CHECK_EPC(1b)
  CHECK_TVAL_REG(t1)
  GOTO_M
  li gp, 9                        /* fetch access fault: sepc = stval = the target */
  li t1, UNMAPPED_PA
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
  jr t1
  j skiff_fail
2: CHECK_HANDLER(PRV_S)
  CHECK_CAUSE(CAUSE_FETCH_ACCESS)
  CHECK_TVAL(UNMAPPED_PA)
  la t5, skiff_trap
  lw t5, TR_EPC(t5)
  FAIL_IF_NE(t5, UNMAPPED_PA)
  GOTO_M

  /* ---- from S: delegated traps stay in S ---- */
  TEST_S_TRAP(20, MPP_S, CAUSE_ILLEGAL, csrr t1, mstatus)
  li gp, 21
  csrsi mstatus, MSTATUS_SIE
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
1: ebreak
  j skiff_fail
2: CHECK_HANDLER(PRV_S)
  CHECK_CAUSE(CAUSE_BREAKPOINT)
  CHECK_STATUS(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE | MSTATUS_SPP)
  GOTO_M
  csrci mstatus, MSTATUS_SIE
  TEST_S_TRAP(22, MPP_S, CAUSE_LOAD_ACCESS, li t1, UNMAPPED_PA; 98: lhu t2, 2(t1))
  TEST_S_TRAP(23, MPP_S, CAUSE_STORE_ACCESS, li t1, UNMAPPED_PA; 98: sw t2, 0(t1))

  /* ---- not delegated: ECALL from S goes to M ---- */
  li gp, 30
  GOTO_MODE(MPP_S)
  li a7, 0
  EXPECT_TRAP(2f)
1: ecall
  j skiff_fail
2: CHECK_HANDLER(PRV_M)
  CHECK_CAUSE(CAUSE_ECALL_S)
  CHECK_EPC(1b)

  /* ---- delegated causes raised in M are handled in M ---- */
  li gp, 31
  EXPECT_TRAP(2f)
1: .word 0
  j skiff_fail
2: CHECK_HANDLER(PRV_M)
  CHECK_CAUSE(CAUSE_ILLEGAL)
  CHECK_EPC(1b)
  li gp, 32
  EXPECT_TRAP(2f)
1: ebreak
  j skiff_fail
2: CHECK_HANDLER(PRV_M)
  CHECK_CAUSE(CAUSE_BREAKPOINT)
  li gp, 33
  li t1, UNMAPPED_PA
  EXPECT_TRAP(2f)
1: lw t2, 0(t1)
  j skiff_fail
2: CHECK_HANDLER(PRV_M)
  CHECK_CAUSE(CAUSE_LOAD_ACCESS)

  /* ---- clearing the medeleg bit sends it back to M ---- */
  li gp, 40
  li t0, 1 << CAUSE_ILLEGAL
  csrc medeleg, t0
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: .word 0
  j skiff_fail
2: CHECK_HANDLER(PRV_M)
  CHECK_CAUSE(CAUSE_ILLEGAL)
  CHECK_PRIV(PRV_U)
  csrw medeleg, x0

TEST_END
