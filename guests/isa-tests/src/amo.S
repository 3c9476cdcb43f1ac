/* RV32A atomic memory operations: AMOSWAP AMOADD AMOXOR AMOAND AMOOR AMOMIN AMOMAX AMOMINU AMOMAXU
 * (.W, with and without .aq/.rl/.aqrl): rd gets the old value, memory the result; signed vs
 * unsigned min/max edges; rd = x0 still writes memory; rd == rs2 (swap idiom); neighbouring words
 * untouched; misaligned AMO traps (store/AMO address-misaligned or access fault, memory unchanged);
 * AMO to an unmapped physical address raises a store/AMO access fault with mtval = address.
 * Old values and results go to the signature. */
#define SKIFF_SIGN
#include "skiff_test.h"

#define TEST_AMO(n, op, init, src, result)                                                      \
  li gp, n; la x1, amo_data; li x2, init; sw x2, 0(x1); li x4, src; op x14, x4, (x1);          \
  li x7, init; bne x14, x7, skiff_fail; lw x15, 0(x1); li x7, result; bne x15, x7, skiff_fail; \
  lw x16, 4(x1); li x7, 0x5eed5eed; bne x16, x7, skiff_fail;                                   \
  lw x16, -4(x1); bne x16, x7, skiff_fail; SIG_PUT(x14); SIG_PUT(x15)
#define TEST_AMO_X0(n, op, init, src, result)                                                   \
  li gp, n; la x1, amo_data; li x2, init; sw x2, 0(x1); li x4, src; op x0, x4, (x1);           \
  bnez x0, skiff_fail; lw x15, 0(x1); li x7, result; bne x15, x7, skiff_fail
#define TEST_AMO_RD_RS2(n, op, init, src, result)                                               \
  li gp, n; la x1, amo_data; li x2, init; sw x2, 0(x1); li x4, src; op x4, x4, (x1);           \
  li x7, init; bne x4, x7, skiff_fail; lw x15, 0(x1); li x7, result; bne x15, x7, skiff_fail
/* Misaligned: must trap with cause 6 (or 7, access fault), memory unchanged. */
#define TEST_AMO_MISALIGNED(n, op, off)                                                         \
  li gp, n; la x1, amo_data; li x2, 0x11223344; sw x2, 0(x1); sw x2, 4(x1);                    \
  addi x10, x1, off; li x4, 0x55; EXPECT_TRAP(96f); op x14, x4, (x10); j skiff_fail;           \
  96: la t5, skiff_trap; lw t5, TR_CAUSE(t5); li t6, CAUSE_MISALIGNED_STORE; beq t5, t6, 95f;  \
  li t6, CAUSE_STORE_ACCESS; beq t5, t6, 95f;                                                  \
  /* QEMU 7.2 reports a misaligned AMO as a load address-misaligned (4) */                      \
  IF_QEMU(94f); j skiff_fail; 94: la t5, skiff_trap; lw t5, TR_CAUSE(t5);                      \
  li t6, CAUSE_MISALIGNED_LOAD; bne t5, t6, skiff_fail;                                        \
  95: CHECK_TVAL_REG(x10); lw x15, 0(x1); li x7, 0x11223344; bne x15, x7, skiff_fail;          \
  lw x15, 4(x1); bne x15, x7, skiff_fail; li x7, 0x55; bne x4, x7, skiff_fail

/* Store/AMO access fault (7); QEMU 7.2 reports AMO faults as load access faults (5). */
#define CHECK_AMO_ACCESS_FAULT                                                                  \
  la t5, skiff_trap; lw t5, TR_CAUSE(t5); li t6, CAUSE_STORE_ACCESS; beq t5, t6, 93f;          \
  IF_QEMU(94f); j skiff_fail; 94: la t5, skiff_trap; lw t5, TR_CAUSE(t5);                      \
  li t6, CAUSE_LOAD_ACCESS; bne t5, t6, skiff_fail; 93:

TEST_BEGIN
  /* guard words around the target */
  la x1, amo_data
  li x2, 0x5eed5eed
  sw x2, -4(x1)
  sw x2, 4(x1)

  /* ---- AMOSWAP.W ---- */
  TEST_AMO(2, amoswap.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO(3, amoswap.w.aq, 0x80000000, 0xfffff800, 0xfffff800)
  TEST_AMO(4, amoswap.w.rl, 0x7fffffff, 0x80000000, 0x80000000)
  TEST_AMO(5, amoswap.w.aqrl, 0x00000001, 0xffffffff, 0xffffffff)
  TEST_AMO(6, amoswap.w, 0xffffffff, 0x00000001, 0x00000001)
  TEST_AMO(7, amoswap.w.aq, 0x12345678, 0x12345678, 0x12345678)
  TEST_AMO(8, amoswap.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(9, amoswap.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0xf0f0f0f0)
  TEST_AMO_X0(10, amoswap.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO_RD_RS2(11, amoswap.w, 0x80000000, 0xffff8000, 0xffff8000)
  /* ---- AMOADD.W ---- */
  TEST_AMO(20, amoadd.w, 0xffff8000, 0x80000000, 0x7fff8000)
  TEST_AMO(21, amoadd.w.aq, 0x80000000, 0xfffff800, 0x7ffff800)
  TEST_AMO(22, amoadd.w.rl, 0x7fffffff, 0x80000000, 0xffffffff)
  TEST_AMO(23, amoadd.w.aqrl, 0x00000001, 0xffffffff, 0x00000000)
  TEST_AMO(24, amoadd.w, 0xffffffff, 0x00000001, 0x00000000)
  TEST_AMO(25, amoadd.w.aq, 0x12345678, 0x12345678, 0x2468acf0)
  TEST_AMO(26, amoadd.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(27, amoadd.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0x00e100e0)
  TEST_AMO_X0(28, amoadd.w, 0xffff8000, 0x80000000, 0x7fff8000)
  TEST_AMO_RD_RS2(29, amoadd.w, 0x80000000, 0xffff8000, 0x7fff8000)
  /* ---- AMOXOR.W ---- */
  TEST_AMO(30, amoxor.w, 0xffff8000, 0x80000000, 0x7fff8000)
  TEST_AMO(31, amoxor.w.aq, 0x80000000, 0xfffff800, 0x7ffff800)
  TEST_AMO(32, amoxor.w.rl, 0x7fffffff, 0x80000000, 0xffffffff)
  TEST_AMO(33, amoxor.w.aqrl, 0x00000001, 0xffffffff, 0xfffffffe)
  TEST_AMO(34, amoxor.w, 0xffffffff, 0x00000001, 0xfffffffe)
  TEST_AMO(35, amoxor.w.aq, 0x12345678, 0x12345678, 0x00000000)
  TEST_AMO(36, amoxor.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(37, amoxor.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0xff00ff00)
  TEST_AMO_X0(38, amoxor.w, 0xffff8000, 0x80000000, 0x7fff8000)
  TEST_AMO_RD_RS2(39, amoxor.w, 0x80000000, 0xffff8000, 0x7fff8000)
  /* ---- AMOAND.W ---- */
  TEST_AMO(40, amoand.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO(41, amoand.w.aq, 0x80000000, 0xfffff800, 0x80000000)
  TEST_AMO(42, amoand.w.rl, 0x7fffffff, 0x80000000, 0x00000000)
  TEST_AMO(43, amoand.w.aqrl, 0x00000001, 0xffffffff, 0x00000001)
  TEST_AMO(44, amoand.w, 0xffffffff, 0x00000001, 0x00000001)
  TEST_AMO(45, amoand.w.aq, 0x12345678, 0x12345678, 0x12345678)
  TEST_AMO(46, amoand.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(47, amoand.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0x00f000f0)
  TEST_AMO_X0(48, amoand.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO_RD_RS2(49, amoand.w, 0x80000000, 0xffff8000, 0x80000000)
  /* ---- AMOOR.W ---- */
  TEST_AMO(50, amoor.w, 0xffff8000, 0x80000000, 0xffff8000)
  TEST_AMO(51, amoor.w.aq, 0x80000000, 0xfffff800, 0xfffff800)
  TEST_AMO(52, amoor.w.rl, 0x7fffffff, 0x80000000, 0xffffffff)
  TEST_AMO(53, amoor.w.aqrl, 0x00000001, 0xffffffff, 0xffffffff)
  TEST_AMO(54, amoor.w, 0xffffffff, 0x00000001, 0xffffffff)
  TEST_AMO(55, amoor.w.aq, 0x12345678, 0x12345678, 0x12345678)
  TEST_AMO(56, amoor.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(57, amoor.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0xfff0fff0)
  TEST_AMO_X0(58, amoor.w, 0xffff8000, 0x80000000, 0xffff8000)
  TEST_AMO_RD_RS2(59, amoor.w, 0x80000000, 0xffff8000, 0xffff8000)
  /* ---- AMOMIN.W ---- */
  TEST_AMO(60, amomin.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO(61, amomin.w.aq, 0x80000000, 0xfffff800, 0x80000000)
  TEST_AMO(62, amomin.w.rl, 0x7fffffff, 0x80000000, 0x80000000)
  TEST_AMO(63, amomin.w.aqrl, 0x00000001, 0xffffffff, 0xffffffff)
  TEST_AMO(64, amomin.w, 0xffffffff, 0x00000001, 0xffffffff)
  TEST_AMO(65, amomin.w.aq, 0x12345678, 0x12345678, 0x12345678)
  TEST_AMO(66, amomin.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(67, amomin.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0xf0f0f0f0)
  TEST_AMO_X0(68, amomin.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO_RD_RS2(69, amomin.w, 0x80000000, 0xffff8000, 0x80000000)
  /* ---- AMOMAX.W ---- */
  TEST_AMO(70, amomax.w, 0xffff8000, 0x80000000, 0xffff8000)
  TEST_AMO(71, amomax.w.aq, 0x80000000, 0xfffff800, 0xfffff800)
  TEST_AMO(72, amomax.w.rl, 0x7fffffff, 0x80000000, 0x7fffffff)
  TEST_AMO(73, amomax.w.aqrl, 0x00000001, 0xffffffff, 0x00000001)
  TEST_AMO(74, amomax.w, 0xffffffff, 0x00000001, 0x00000001)
  TEST_AMO(75, amomax.w.aq, 0x12345678, 0x12345678, 0x12345678)
  TEST_AMO(76, amomax.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(77, amomax.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0x0ff00ff0)
  TEST_AMO_X0(78, amomax.w, 0xffff8000, 0x80000000, 0xffff8000)
  TEST_AMO_RD_RS2(79, amomax.w, 0x80000000, 0xffff8000, 0xffff8000)
  /* ---- AMOMINU.W ---- */
  TEST_AMO(80, amominu.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO(81, amominu.w.aq, 0x80000000, 0xfffff800, 0x80000000)
  TEST_AMO(82, amominu.w.rl, 0x7fffffff, 0x80000000, 0x7fffffff)
  TEST_AMO(83, amominu.w.aqrl, 0x00000001, 0xffffffff, 0x00000001)
  TEST_AMO(84, amominu.w, 0xffffffff, 0x00000001, 0x00000001)
  TEST_AMO(85, amominu.w.aq, 0x12345678, 0x12345678, 0x12345678)
  TEST_AMO(86, amominu.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(87, amominu.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0x0ff00ff0)
  TEST_AMO_X0(88, amominu.w, 0xffff8000, 0x80000000, 0x80000000)
  TEST_AMO_RD_RS2(89, amominu.w, 0x80000000, 0xffff8000, 0x80000000)
  /* ---- AMOMAXU.W ---- */
  TEST_AMO(90, amomaxu.w, 0xffff8000, 0x80000000, 0xffff8000)
  TEST_AMO(91, amomaxu.w.aq, 0x80000000, 0xfffff800, 0xfffff800)
  TEST_AMO(92, amomaxu.w.rl, 0x7fffffff, 0x80000000, 0x80000000)
  TEST_AMO(93, amomaxu.w.aqrl, 0x00000001, 0xffffffff, 0xffffffff)
  TEST_AMO(94, amomaxu.w, 0xffffffff, 0x00000001, 0xffffffff)
  TEST_AMO(95, amomaxu.w.aq, 0x12345678, 0x12345678, 0x12345678)
  TEST_AMO(96, amomaxu.w.rl, 0x00000000, 0x00000000, 0x00000000)
  TEST_AMO(97, amomaxu.w.aqrl, 0x0ff00ff0, 0xf0f0f0f0, 0xf0f0f0f0)
  TEST_AMO_X0(98, amomaxu.w, 0xffff8000, 0x80000000, 0xffff8000)
  TEST_AMO_RD_RS2(99, amomaxu.w, 0x80000000, 0xffff8000, 0xffff8000)

  /* ---- an AMOADD counter loop ---- */
  li gp, 200
  la x1, amo_data
  sw zero, 0(x1)
  li x5, 100
1: li x4, 3
  amoadd.w x0, x4, (x1)
  addi x5, x5, -1
  bnez x5, 1b
  lw x14, 0(x1)
  FAIL_IF_NE(x14, 300)
  SIG_PUT(x14)

  /* ---- misaligned AMOs trap (never emulated) ---- */
  TEST_AMO_MISALIGNED(210, amoswap.w, 1)
  TEST_AMO_MISALIGNED(211, amoadd.w, 2)
  TEST_AMO_MISALIGNED(212, amoxor.w, 3)
  TEST_AMO_MISALIGNED(213, amoand.w, 1)
  TEST_AMO_MISALIGNED(214, amoor.w, 2)
  TEST_AMO_MISALIGNED(215, amomin.w, 3)
  TEST_AMO_MISALIGNED(216, amomax.w, 1)
  TEST_AMO_MISALIGNED(217, amominu.w, 2)
  TEST_AMO_MISALIGNED(218, amomaxu.w.aqrl, 3)

  /* ---- AMO to an unmapped physical address: store/AMO access fault ---- */
  li gp, 220
  li x10, UNMAPPED_PA
  li x14, 0x77
  EXPECT_TRAP(2f)
  amoadd.w x14, x14, (x10)
  j skiff_fail
2: CHECK_AMO_ACCESS_FAULT
  CHECK_TVAL(UNMAPPED_PA)
  FAIL_IF_NE(x14, 0x77)           /* rd not written by a faulting AMO */
  li gp, 221
  li x10, UNMAPPED_PA2 + 0x100
  EXPECT_TRAP(3f)
  amoswap.w.aqrl x0, x14, (x10)
  j skiff_fail
3: CHECK_AMO_ACCESS_FAULT
  CHECK_TVAL(UNMAPPED_PA2 + 0x100)

TEST_END

  .data
  .balign 64
  .word 0
amo_data:
  .word 0, 0, 0
