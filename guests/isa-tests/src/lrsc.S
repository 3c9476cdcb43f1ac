/* RV32A LR.W / SC.W: LR returns the word; a paired SC succeeds (rd = 0, memory written; retried a
 * bounded number of times since an SC may fail spuriously); SC without a reservation fails
 * (rd != 0, memory untouched); any SC consumes the reservation, so a second SC fails; an SC to an
 * address outside the reserved word's set fails; a newer LR replaces the reservation; .aq/.rl
 * encodings; a constrained LR/SC loop implementing fetch-and-add; misaligned LR traps
 * (load address-misaligned or access fault); LR from an unmapped address raises a load access
 * fault. */
#include "skiff_test.h"

#define RETRIES 16

TEST_BEGIN

  /* ---- plain SC with no LR before it fails and does not write ---- */
  li gp, 2
  la x1, lr_a
  li x2, 0x11111111
  sw x2, 0(x1)
  li x4, 0x22222222
  sc.w x14, x4, (x1)
  beqz x14, skiff_fail
  lw x15, 0(x1)
  FAIL_IF_NE(x15, 0x11111111)

  /* ---- LR then SC succeeds (retrying spurious failures) ---- */
  li gp, 3
  la x1, lr_a
  li x5, RETRIES
1: lr.w x14, (x1)
  FAIL_IF_NE(x14, 0x11111111)
  li x4, 0x33333333
  sc.w x15, x4, (x1)
  beqz x15, 2f
  addi x5, x5, -1
  bnez x5, 1b
  j skiff_fail
2: lw x16, 0(x1)
  FAIL_IF_NE(x16, 0x33333333)

  /* ---- the reservation is consumed: a second SC fails ---- */
  li gp, 4
  li x4, 0x44444444
  sc.w x15, x4, (x1)
  beqz x15, skiff_fail
  lw x16, 0(x1)
  FAIL_IF_NE(x16, 0x33333333)

  /* ---- a failed SC also consumes it ---- */
  li gp, 5
  la x1, lr_a
  la x2, lr_far
  lr.w x14, (x1)
  sc.w x15, x4, (x2)         /* different reservation set: fails */
  beqz x15, skiff_fail
  sc.w x15, x4, (x1)         /* no reservation any more: fails */
  beqz x15, skiff_fail
  lw x16, 0(x1)
  FAIL_IF_NE(x16, 0x33333333)
  lw x16, 0(x2)
  FAIL_IF_NE(x16, 0x0badf00d)

  /* ---- a newer LR replaces the reservation ---- */
  li gp, 6
  la x1, lr_a
  la x2, lr_far
  lr.w x14, (x1)
  lr.w x14, (x2)
  FAIL_IF_NE(x14, 0x0badf00d)
  li x4, 0x66666666
  sc.w x15, x4, (x1)         /* lr_a is no longer reserved */
  beqz x15, skiff_fail
  lw x16, 0(x1)
  FAIL_IF_NE(x16, 0x33333333)
  li gp, 7
  li x5, RETRIES
1: lr.w x14, (x2)
  sc.w x15, x4, (x2)
  beqz x15, 2f
  addi x5, x5, -1
  bnez x5, 1b
  j skiff_fail
2: lw x16, 0(x2)
  FAIL_IF_NE(x16, 0x66666666)

  /* ---- ordering-bit encodings ---- */
  li gp, 8
  la x1, lr_a
  li x5, RETRIES
1: lr.w.aq x14, (x1)
  li x4, 0x88888888
  sc.w.rl x15, x4, (x1)
  beqz x15, 2f
  addi x5, x5, -1
  bnez x5, 1b
  j skiff_fail
2: li x5, RETRIES
3: lr.w.aqrl x14, (x1)
  FAIL_IF_NE(x14, 0x88888888)
  li x4, 0x99999999
  sc.w.aqrl x15, x4, (x1)
  beqz x15, 4f
  addi x5, x5, -1
  bnez x5, 3b
  j skiff_fail
4: lw x16, 0(x1)
  FAIL_IF_NE(x16, 0x99999999)

  /* ---- SC writing x0 as data, rd = x0 ---- */
  li gp, 9
  li x5, RETRIES
1: lr.w x14, (x1)
  sc.w x15, x0, (x1)
  beqz x15, 2f
  addi x5, x5, -1
  bnez x5, 1b
  j skiff_fail
2: lw x16, 0(x1)
  FAIL_IF_NE(x16, 0)
  li gp, 10
  li x2, 0x1234
  sw x2, 0(x1)
  sc.w x0, x2, (x1)          /* no reservation: x0 stays 0 and memory untouched */
  bnez x0, skiff_fail
  lr.w x0, (x1)              /* LR to x0 loads nothing visible */
  bnez x0, skiff_fail

  /* ---- constrained LR/SC loop: atomic increment, 50 times ---- */
  li gp, 11
  la x1, lr_a
  sw zero, 0(x1)
  li x6, 50
1: lr.w x14, (x1)
  addi x14, x14, 2
  sc.w x15, x14, (x1)
  bnez x15, 1b
  addi x6, x6, -1
  bnez x6, 1b
  lw x16, 0(x1)
  FAIL_IF_NE(x16, 100)

  /* ---- LR/SC compare-and-swap that fails on mismatch ---- */
  li gp, 12
  la x1, lr_a
  li x7, 99                  /* expected, but memory holds 100 */
1: lr.w x14, (x1)
  bne x14, x7, 2f
  li x4, 1
  sc.w x15, x4, (x1)
  bnez x15, 1b
  j skiff_fail
2: FAIL_IF_NE(x14, 100)
  lw x16, 0(x1)
  FAIL_IF_NE(x16, 100)

  /* ---- misaligned LR: load address-misaligned (4) or load access fault (5) ---- */
  li gp, 20
  la x10, lr_a
  addi x10, x10, 2
  li x14, 0x5a
  EXPECT_TRAP(1f)
  lr.w x14, (x10)
  j skiff_fail
1: la t5, skiff_trap
  lw t5, TR_CAUSE(t5)
  li t6, CAUSE_MISALIGNED_LOAD
  beq t5, t6, 2f
  li t6, CAUSE_LOAD_ACCESS
  bne t5, t6, skiff_fail
2: CHECK_TVAL_REG(x10)
  FAIL_IF_NE(x14, 0x5a)      /* rd untouched */

  /* ---- misaligned SC with a live reservation on the aligned word: must not write ---- */
  li gp, 21
  la x1, lr_a
  li x2, 0x01020304
  sw x2, 0(x1)
  sw x2, 4(x1)
  addi x10, x1, 1
  lr.w x14, (x1)
  li x14, 0x5a
  EXPECT_TRAP(1f)
  sc.w x14, x2, (x10)        /* traps (6 or 7), or at least fails */
  CLEAR_EXPECT
  beqz x14, skiff_fail
  j 2f
1: la t5, skiff_trap
  lw t5, TR_CAUSE(t5)
  li t6, CAUSE_MISALIGNED_STORE
  beq t5, t6, 3f
  li t6, CAUSE_STORE_ACCESS
  bne t5, t6, skiff_fail
3: CHECK_TVAL_REG(x10)
  FAIL_IF_NE(x14, 0x5a)
2: lw x16, 0(x1)
  FAIL_IF_NE(x16, 0x01020304)
  lw x16, 4(x1)
  FAIL_IF_NE(x16, 0x01020304)

  /* ---- LR from an unmapped physical address: load access fault ---- */
  li gp, 22
  li x10, UNMAPPED_PA
  EXPECT_TRAP(1f)
  lr.w x14, (x10)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_ACCESS)
  CHECK_TVAL(UNMAPPED_PA)

TEST_END

  .data
  .balign 64
lr_a:
  .word 0, 0
  .balign 4096
lr_far:
  .word 0x0badf00d
