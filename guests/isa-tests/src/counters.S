/* Counters: cycle/instret are shadows of mcycle/minstret, time of the CLINT's mtime; mcycle,
 * minstret and their h halves are writable with carries into the high half; instret counts
 * exactly (a write takes effect after the writing instruction, so write-read-read gives 0, 1);
 * cycle advances; mcounteren gates S and U, scounteren additionally gates U (CY, TM, IR
 * separately; hpmcounter3 stays illegal below M while its enable bit is clear); M reads all. */
#include "skiff_test.h"

#define TEST_CTR_ILLEGAL(n, mpp, csr)                                                           \
  li gp, n; GOTO_MODE(mpp); EXPECT_TRAP(99f); 98: csrr t1, csr; j skiff_fail;                  \
  99: CHECK_CAUSE(CAUSE_ILLEGAL); CHECK_EPC(98b); la t5, 98b; lw t5, 0(t5); CHECK_TVAL_REG(t5)
#define TEST_CTR_OK(n, mpp, csr) li gp, n; GOTO_MODE(mpp); csrr t1, csr; GOTO_M
#define COUNTEREN(m, s) li t0, m; csrw mcounteren, t0; li t0, s; csrw scounteren, t0

TEST_BEGIN

  /* ---- shadows ---- */
  li gp, 2
  csrw mcycleh, x0
  csrw mcycle, x0
  csrr t0, mcycle
  csrr t1, cycle
  csrr t2, mcycle
  bltu t1, t0, skiff_fail
  bltu t2, t1, skiff_fail
  li gp, 3
  csrw minstreth, x0
  csrw minstret, x0
  csrr t0, minstret
  csrr t1, instret
  csrr t2, minstret
  bltu t1, t0, skiff_fail
  bltu t2, t1, skiff_fail
  csrr t0, minstreth
  csrr t1, instreth
  bne t0, t1, skiff_fail
  csrr t0, mcycleh
  csrr t1, cycleh
  bne t0, t1, skiff_fail

  /* ---- exact instret (QEMU without -icount counts host ticks instead) ---- */
  IF_QEMU(1f)
  li gp, 4
  csrw minstret, x0
  csrr t0, minstret
  csrr t1, minstret
  FAIL_IF_NE(t0, 0)
  FAIL_IF_NE(t1, 1)
  li gp, 5
  csrr t0, instret
  nop
  nop
  nop
  nop
  nop
  addi t2, t2, 1
  beq x0, x0, 2f
2: j 3f
3: csrr t1, instret
  sub t1, t1, t0
  FAIL_IF_NE(t1, 9)               /* 5 nops, addi, beq, j and the first csrr */
  li gp, 6                        /* trapping instructions do not retire: ecall + mret do */
  csrw minstret, x0
  li a7, 0
  EXPECT_TRAP(2f)
  ecall
2: csrr t1, minstret
  /* li, EXPECT_TRAP (6), ecall? (not retired), the handler's instructions, mret: only check
   * that the count is plausible: more than the 7 visible ones, fewer than 200 */
  li t2, 7
  bltu t1, t2, skiff_fail
  li t2, 200
  bgeu t1, t2, skiff_fail
1:

  /* ---- writable 64-bit counters carry into the high half ---- */
  li gp, 10
  li t0, -40
  csrw minstret, t0
  li t0, 5
  csrw minstreth, t0
  .rept 50
  nop
  .endr
  csrr t1, minstreth
  csrr t0, minstret
  IF_QEMU(2f)
  FAIL_IF_NE(t1, 6)
  li t2, 40
  bgeu t0, t2, skiff_fail         /* about 11 past the wrap */
  j 3f
2: li t2, 5                       /* QEMU: instret runs on host ticks, no carry into the h half */
  bltu t1, t2, skiff_fail
3: li gp, 11
  li t0, -20
  csrw mcycle, t0
  li t0, 7
  csrw mcycleh, t0
  li t3, 200
4: addi t3, t3, -1
  bnez t3, 4b
  csrr t1, mcycleh
  IF_QEMU(5f)                     /* QEMU 7.2 does not carry from mcycle into mcycleh */
  li t2, 8
  bltu t1, t2, skiff_fail         /* 400 instructions took more than 20 cycles */
5:
  li gp, 12                       /* cycle advances */
  csrr t0, cycle
  li t3, 100
4: addi t3, t3, -1
  bnez t3, 4b
  csrr t1, cycle
  beq t0, t1, skiff_fail

  /* ---- time is mtime ---- */
  IF_QEMU(1f)                     /* no time CSR on QEMU's spike machine */
  li gp, 20
  li t5, CLINT_MTIME
  lw t0, 0(t5)
  csrr t1, time
  lw t2, 0(t5)
  sub t3, t1, t0
  sub t4, t2, t0
  bltu t4, t3, skiff_fail         /* mtime(before) <= time <= mtime(after) */
  li gp, 21
2: lw t0, 4(t5)
  csrr t1, timeh
  lw t2, 4(t5)
  bne t0, t2, 2b
  bne t0, t1, skiff_fail
1:

  /* ---- counter enables ---- */
  COUNTEREN(0, 7)
  TEST_CTR_ILLEGAL(30, MPP_S, cycle)
  TEST_CTR_ILLEGAL(31, MPP_S, instret)
  TEST_CTR_ILLEGAL(32, MPP_S, time)
  TEST_CTR_ILLEGAL(33, MPP_S, cycleh)
  TEST_CTR_ILLEGAL(34, MPP_S, instreth)
  TEST_CTR_ILLEGAL(35, MPP_S, timeh)
  TEST_CTR_ILLEGAL(36, MPP_U, cycle)      /* scounteren alone is not enough */
  TEST_CTR_ILLEGAL(37, MPP_U, instret)
  TEST_CTR_ILLEGAL(38, MPP_U, time)
  li gp, 39                       /* M ignores the enables */
  csrr t1, cycle
  csrr t1, instret
  csrr t1, cycleh
  csrr t1, instreth
  COUNTEREN(7, 0)
  TEST_CTR_OK(40, MPP_S, cycle)
  TEST_CTR_OK(41, MPP_S, instret)
  TEST_CTR_OK(42, MPP_S, cycleh)
  TEST_CTR_OK(43, MPP_S, instreth)
  IF_QEMU(1f)
  TEST_CTR_OK(44, MPP_S, time)
  TEST_CTR_OK(45, MPP_S, timeh)
1: TEST_CTR_ILLEGAL(46, MPP_U, cycle)
  TEST_CTR_ILLEGAL(47, MPP_U, instret)
  TEST_CTR_ILLEGAL(48, MPP_U, time)
  TEST_CTR_ILLEGAL(49, MPP_U, instreth)
  COUNTEREN(7, 7)
  TEST_CTR_OK(50, MPP_U, cycle)
  TEST_CTR_OK(51, MPP_U, instret)
  TEST_CTR_OK(52, MPP_U, cycleh)
  TEST_CTR_OK(53, MPP_U, instreth)
  IF_QEMU(1f)
  TEST_CTR_OK(54, MPP_U, time)
  TEST_CTR_OK(55, MPP_U, timeh)
1: COUNTEREN(1, 1)                /* CY only */
  TEST_CTR_OK(60, MPP_S, cycle)
  TEST_CTR_OK(61, MPP_U, cycle)
  TEST_CTR_ILLEGAL(62, MPP_S, instret)
  TEST_CTR_ILLEGAL(63, MPP_U, instret)
  TEST_CTR_ILLEGAL(64, MPP_S, time)
  COUNTEREN(4, 0)                 /* IR for S only */
  TEST_CTR_OK(65, MPP_S, instret)
  TEST_CTR_ILLEGAL(66, MPP_S, cycle)
  TEST_CTR_ILLEGAL(67, MPP_U, instret)
  COUNTEREN(2, 2)                 /* TM only */
  IF_QEMU(1f)
  TEST_CTR_OK(68, MPP_S, time)
  TEST_CTR_OK(69, MPP_U, time)
1: TEST_CTR_ILLEGAL(70, MPP_S, cycle)
  TEST_CTR_ILLEGAL(71, MPP_U, instret)
  COUNTEREN(7, 7)                 /* hpmcounter3's enable bit is clear */
  TEST_CTR_ILLEGAL(72, MPP_S, hpmcounter3)
  TEST_CTR_ILLEGAL(73, MPP_U, hpmcounter3)
  COUNTEREN(0, 0)

TEST_END
