/* RV32I control transfer: BEQ BNE BLT BGE BLTU BGEU (taken forward/backward, not taken,
 * signed vs unsigned edges), JAL (link = pc + 4, rd = x0, backward), JALR (link, offset,
 * lowest target bit cleared, rd == rs1 uses the old rs1). */
#include "skiff_test.h"

TEST_BEGIN

  /* ---- BEQ / BNE ---- */
  TEST_BR_TAKEN(2, beq, 0, 0)
  TEST_BR_TAKEN(3, beq, 1, 1)
  TEST_BR_TAKEN(4, beq, -1, -1)
  TEST_BR_TAKEN(5, beq, 0x80000000, 0x80000000)
  TEST_BR_NOT_TAKEN(6, beq, 0, 1)
  TEST_BR_NOT_TAKEN(7, beq, 1, 0)
  TEST_BR_NOT_TAKEN(8, beq, -1, 1)
  TEST_BR_NOT_TAKEN(9, beq, 0x80000000, 0)
  TEST_BR_TAKEN(10, bne, 0, 1)
  TEST_BR_TAKEN(11, bne, 1, 0)
  TEST_BR_TAKEN(12, bne, -1, 1)
  TEST_BR_TAKEN(13, bne, 0x80000000, 0x7fffffff)
  TEST_BR_NOT_TAKEN(14, bne, 0, 0)
  TEST_BR_NOT_TAKEN(15, bne, -1, -1)

  /* ---- BLT / BGE (signed) ---- */
  TEST_BR_TAKEN(20, blt, 0, 1)
  TEST_BR_TAKEN(21, blt, -1, 1)
  TEST_BR_TAKEN(22, blt, -2, -1)
  TEST_BR_TAKEN(23, blt, 0x80000000, 0x7fffffff)
  TEST_BR_TAKEN(24, blt, 0x80000000, 0)
  TEST_BR_NOT_TAKEN(25, blt, 1, 0)
  TEST_BR_NOT_TAKEN(26, blt, 1, -1)
  TEST_BR_NOT_TAKEN(27, blt, -1, -2)
  TEST_BR_NOT_TAKEN(28, blt, 0x7fffffff, 0x80000000)
  TEST_BR_NOT_TAKEN(29, blt, 5, 5)
  TEST_BR_TAKEN(30, bge, 0, 0)
  TEST_BR_TAKEN(31, bge, 1, 1)
  TEST_BR_TAKEN(32, bge, -1, -1)
  TEST_BR_TAKEN(33, bge, 1, 0)
  TEST_BR_TAKEN(34, bge, 1, -1)
  TEST_BR_TAKEN(35, bge, -1, -2)
  TEST_BR_TAKEN(36, bge, 0x7fffffff, 0x80000000)
  TEST_BR_NOT_TAKEN(37, bge, 0, 1)
  TEST_BR_NOT_TAKEN(38, bge, -1, 1)
  TEST_BR_NOT_TAKEN(39, bge, -2, -1)
  TEST_BR_NOT_TAKEN(40, bge, 0x80000000, 0x7fffffff)

  /* ---- BLTU / BGEU (unsigned) ---- */
  TEST_BR_TAKEN(50, bltu, 0, 1)
  TEST_BR_TAKEN(51, bltu, 1, -1)
  TEST_BR_TAKEN(52, bltu, -2, -1)
  TEST_BR_TAKEN(53, bltu, 0x7fffffff, 0x80000000)
  TEST_BR_NOT_TAKEN(54, bltu, 1, 0)
  TEST_BR_NOT_TAKEN(55, bltu, -1, 1)
  TEST_BR_NOT_TAKEN(56, bltu, -1, -2)
  TEST_BR_NOT_TAKEN(57, bltu, 0x80000000, 0x7fffffff)
  TEST_BR_NOT_TAKEN(58, bltu, 7, 7)
  TEST_BR_TAKEN(60, bgeu, 0, 0)
  TEST_BR_TAKEN(61, bgeu, -1, -1)
  TEST_BR_TAKEN(62, bgeu, 1, 0)
  TEST_BR_TAKEN(63, bgeu, -1, 1)
  TEST_BR_TAKEN(64, bgeu, 0x80000000, 0x7fffffff)
  TEST_BR_NOT_TAKEN(65, bgeu, 0, 1)
  TEST_BR_NOT_TAKEN(66, bgeu, 1, -1)
  TEST_BR_NOT_TAKEN(67, bgeu, 0x7fffffff, 0x80000000)

  /* ---- branches with x0 operands (beqz/bnez/bltz/bgez forms) ---- */
  li gp, 70
  li x1, -5
  bltz x1, 1f
  j skiff_fail
1: bgez x1, skiff_fail
  blez x1, 2f
  j skiff_fail
2: bgtz x1, skiff_fail
  beq x0, x0, 3f
  j skiff_fail
3: bne x0, x0, skiff_fail
  bltu x0, x0, skiff_fail
  bgeu x0, x0, 4f
  j skiff_fail
4:
  /* taken branch over a long distance (the 13-bit offset's top bits) */
  li gp, 71
  beq x0, x0, 5f
  .fill 1000, 4, 0x00000013    /* nops */
  j skiff_fail
5: bne x0, x0, skiff_fail
  li gp, 72
  j 7f
6: beq x0, x0, 8f              /* backward target far below */
  j skiff_fail
7: .fill 1000, 4, 0x00000013
  beq x0, x0, 6b
  j skiff_fail
8:

  /* ---- JAL ---- */
  li gp, 80
  li x1, 0
  jal x1, 10f
11: j skiff_fail
10: la x2, 11b
  bne x1, x2, skiff_fail        /* link = address of the next instruction */
  li gp, 81
  jal x0, 12f                   /* j: nothing linked */
  j skiff_fail
12: bnez x0, skiff_fail
  li gp, 82
  j 14f
13: j 15f
14: jal x5, 13b                 /* backward, rd = t0 */
16: j skiff_fail
15: la x6, 16b
  bne x5, x6, skiff_fail
  li gp, 83                     /* far forward jal (beyond branch range) */
  jal x1, 17f
18:
  .fill 2048, 4, 0x00000013
  j skiff_fail
17: la x2, 18b
  bne x1, x2, skiff_fail

  /* ---- JALR ---- */
  li gp, 90
  la x2, 20f
  jalr x1, 0(x2)
21: j skiff_fail
20: la x4, 21b
  bne x1, x4, skiff_fail
  li gp, 91                     /* positive and negative offsets */
  la x2, 22f - 8
  jalr x1, 8(x2)
  j skiff_fail
22: la x2, 23f + 16
  jalr x0, -16(x2)
  j skiff_fail
23: li gp, 92                   /* bit 0 of the target is cleared */
  la x2, 24f
  addi x2, x2, 1
  jalr x1, 0(x2)
  j skiff_fail
24: li gp, 93
  la x2, 25f
  jalr x1, 1(x2)
  j skiff_fail
25: li gp, 94                   /* rd == rs1: target from the old value, then link written */
  la x1, 26f
  jalr x1, 0(x1)
27: j skiff_fail
26: la x2, 27b
  bne x1, x2, skiff_fail
  li gp, 95                     /* jalr x0 as ret */
  jal ra, 28f
  j 29f
28: ret
  j skiff_fail
29: li gp, 96                   /* jalr with rs1 = x0 would go to absolute 0: not tested; */
  /* chained calls: link register reused immediately */
  la x5, 30f
  jalr x5, x5, 0
31: j 32f
30: jalr x6, x5, 0               /* returns to 31 */
  j skiff_fail
32: la x7, 31b
  bne x5, x7, skiff_fail

TEST_END
