/* RV32I integer computational instructions: ADD SUB AND OR XOR SLL SRL SRA SLT SLTU and their
 * immediate forms, LUI, AUIPC; overflow wrap, shift amounts 0/31, shift-amount masking (rs2[4:0]),
 * sign-extended 12-bit immediates, x0 as source and destination, rd == rs1 == rs2.
 * Results go to the signature. */
#define SKIFF_SIGN
#include "skiff_test.h"

TEST_BEGIN

  /* ---- ADD ---- */
  TEST_RR(2, add, 0x00000000, 0x00000000, 0x00000000)
  TEST_RR(3, add, 0x00000002, 0x00000001, 0x00000001)
  TEST_RR(4, add, 0x0000000a, 0x00000003, 0x00000007)
  TEST_RR(5, add, 0xffff8000, 0x00000000, 0xffff8000)
  TEST_RR(6, add, 0x80000000, 0x80000000, 0x00000000)
  TEST_RR(7, add, 0x7fff8000, 0x80000000, 0xffff8000)
  TEST_RR(8, add, 0x80000000, 0x7fffffff, 0x00000001) /* signed overflow wraps */
  TEST_RR(9, add, 0x00000000, 0xffffffff, 0x00000001) /* unsigned carry out dropped */
  TEST_RR(10, add, 0xfffffffe, 0xffffffff, 0xffffffff)
  TEST_RR(11, add, 0x00000000, 0x80000000, 0x80000000)
  TEST_RR_SRC1_EQ_DEST(12, add, 24, 13, 11)
  TEST_RR_SRC2_EQ_DEST(13, add, 25, 14, 11)
  TEST_RR_SRC12_EQ_DEST(14, add, 26, 13)
  TEST_RR_ZERO_SRC1(15, add, 15, 15)
  TEST_RR_ZERO_SRC2(16, add, 32, 32)
  TEST_RR_ZERO_DEST(17, add, 16, 30)
  TEST_RR_CHAIN(18, add, 0x12345678, 0x12345000, 0x678)

  /* ---- ADDI (12-bit signed immediate) ---- */
  TEST_RI(20, addi, 0x00000000, 0x00000000, 0)
  TEST_RI(21, addi, 0x00000002, 0x00000001, 1)
  TEST_RI(22, addi, 0xfffff800, 0x00000000, -2048)
  TEST_RI(23, addi, 0x000007ff, 0x00000000, 2047)
  TEST_RI(24, addi, 0x7ffff800, 0x80000000, -2048)
  TEST_RI(25, addi, 0x800007fe, 0x7fffffff, 2047)
  TEST_RI(26, addi, 0x00000000, 0xffffffff, 1)
  TEST_RI(27, addi, 0xfffffffe, 0xffffffff, -1)
  TEST_RI(28, addi, 0x80000000, 0x7fffffff, 1)
  TEST_RI_SRC1_EQ_DEST(29, addi, 24, 13, 11)
  TEST_RI_ZERO_DEST(30, addi, 33, 50)
  TEST_CASE(31, x14, 0x7ff, addi x14, x0, 0x7ff)
  TEST_CASE(32, x14, 0xfffff800, addi x14, x0, -0x800)

  /* ---- SUB ---- */
  TEST_RR(40, sub, 0x00000000, 0x00000000, 0x00000000)
  TEST_RR(41, sub, 0x00000000, 0x00000001, 0x00000001)
  TEST_RR(42, sub, 0xfffffffc, 0x00000003, 0x00000007)
  TEST_RR(43, sub, 0x00008000, 0x00000000, 0xffff8000)
  TEST_RR(44, sub, 0x80000000, 0x80000000, 0x00000000)
  TEST_RR(45, sub, 0x7fffffff, 0x80000000, 0x00000001) /* signed overflow wraps */
  TEST_RR(46, sub, 0x80000001, 0x00000000, 0x7fffffff)
  TEST_RR(47, sub, 0x80000000, 0x00000000, 0x80000000)
  TEST_RR(48, sub, 0x00000001, 0x00000000, 0xffffffff)
  TEST_RR_SRC1_EQ_DEST(49, sub, 2, 13, 11)
  TEST_RR_SRC2_EQ_DEST(50, sub, 3, 14, 11)
  TEST_RR_SRC12_EQ_DEST(51, sub, 0, 13)
  TEST_RR_ZERO_SRC1(52, sub, 0xfffffff1, 15)
  TEST_RR_ZERO_SRC2(53, sub, 32, 32)
  TEST_RR_ZERO_DEST(54, sub, 16, 30)

  /* ---- AND / ANDI ---- */
  TEST_RR(60, and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR(61, and, 0x00f000f0, 0x0ff00ff0, 0xf0f0f0f0)
  TEST_RR(62, and, 0x000f000f, 0x00ff00ff, 0x0f0f0f0f)
  TEST_RR(63, and, 0xf000f000, 0xf00ff00f, 0xf0f0f0f0)
  TEST_RR_SRC12_EQ_DEST(64, and, 0xff00ff00, 0xff00ff00)
  TEST_RR_ZERO_SRC1(65, and, 0, 0xffffffff)
  TEST_RR_ZERO_DEST(66, and, 0xffffffff, 0xffffffff)
  TEST_RI(67, andi, 0xff00ff00, 0xff00ff00, -256)     /* imm 0xf00 sign-extends */
  TEST_RI(68, andi, 0x000000f0, 0x0ff00ff0, 0x0f0)
  TEST_RI(69, andi, 0x0000000f, 0x00ff00ff, 0x70f)
  TEST_RI(70, andi, 0x00000000, 0xf00ff00f, 0x0f0)
  TEST_RI(71, andi, 0x000007ff, 0xffffffff, 0x7ff)
  TEST_RI_ZERO_DEST(72, andi, 0xffffffff, -1)

  /* ---- OR / ORI ---- */
  TEST_RR(80, or, 0xff0fff0f, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR(81, or, 0xfff0fff0, 0x0ff00ff0, 0xf0f0f0f0)
  TEST_RR(82, or, 0x0fff0fff, 0x00ff00ff, 0x0f0f0f0f)
  TEST_RR(83, or, 0xf0fff0ff, 0xf00ff00f, 0xf0f0f0f0)
  TEST_RR_SRC12_EQ_DEST(84, or, 0xff00ff00, 0xff00ff00)
  TEST_RR_ZERO_SRC2(85, or, 0x12345678, 0x12345678)
  TEST_RI(86, ori, 0xffffff0f, 0xff00ff00, -241)       /* imm 0xf0f */
  TEST_RI(87, ori, 0x0ff00ff0, 0x0ff00ff0, 0x0f0)
  TEST_RI(88, ori, 0x00ff07ff, 0x00ff00ff, 0x70f)
  TEST_RI(89, ori, 0xf00ff0ff, 0xf00ff00f, 0x0f0)
  TEST_RI(90, ori, 0xfffff800, 0x00000000, -2048)
  TEST_RI_ZERO_DEST(91, ori, 0x12345678, 0x1)

  /* ---- XOR / XORI ---- */
  TEST_RR(100, xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR(101, xor, 0xff00ff00, 0x0ff00ff0, 0xf0f0f0f0)
  TEST_RR(102, xor, 0x0ff00ff0, 0x00ff00ff, 0x0f0f0f0f)
  TEST_RR(103, xor, 0x00ff00ff, 0xf00ff00f, 0xf0f0f0f0)
  TEST_RR_SRC12_EQ_DEST(104, xor, 0, 0xff00ff00)
  TEST_RR_ZERO_DEST(105, xor, 1, 2)
  TEST_RI(106, xori, 0xff00f00f, 0x00ff0f00, -241)     /* imm 0xf0f */
  TEST_RI(107, xori, 0x0ff00f00, 0x0ff00ff0, 0x0f0)
  TEST_RI(108, xori, 0x00ff0ff0, 0x00ff08ff, 0x70f)
  TEST_RI(109, xori, 0xf00ff0ff, 0xf00ff00f, 0x0f0)
  TEST_RI(110, xori, 0xedcba987, 0x12345678, -1)       /* xori -1 is NOT */

  /* ---- SLL / SLLI ---- */
  TEST_RR(120, sll, 0x00000001, 0x00000001, 0)
  TEST_RR(121, sll, 0x00000002, 0x00000001, 1)
  TEST_RR(122, sll, 0x00000080, 0x00000001, 7)
  TEST_RR(123, sll, 0x00004000, 0x00000001, 14)
  TEST_RR(124, sll, 0x80000000, 0x00000001, 31)
  TEST_RR(125, sll, 0xffffffff, 0xffffffff, 0)
  TEST_RR(126, sll, 0x80000000, 0xffffffff, 31)
  TEST_RR(127, sll, 0x23456780, 0x12345678, 4)
  TEST_RR(128, sll, 0x12345678, 0x12345678, 32)         /* only rs2[4:0] counts */
  TEST_RR(129, sll, 0x2468acf0, 0x12345678, 33)
  TEST_RR(130, sll, 0x12345678, 0x12345678, 0xffffffe0) /* shift 0 */
  TEST_RR(131, sll, 0x80000000, 0x21212121, 0xffffffff)   /* shift 31 */
  TEST_RI(132, slli, 0x00000001, 0x00000001, 0)
  TEST_RI(133, slli, 0x00000002, 0x00000001, 1)
  TEST_RI(134, slli, 0x80000000, 0x00000001, 31)
  TEST_RI(135, slli, 0x42424242, 0x21212121, 1)
  TEST_RI(136, slli, 0x80000000, 0x21212121, 31)
  TEST_RI(137, slli, 0x90909080, 0x21212121, 7)
  TEST_RI_SRC1_EQ_DEST(138, slli, 0x00000080, 0x00000001, 7)
  TEST_RI_ZERO_DEST(139, slli, 0x21212121, 31)

  /* ---- SRL / SRLI (logical) ---- */
  TEST_RR(150, srl, 0x80000000, 0x80000000, 0)
  TEST_RR(151, srl, 0x40000000, 0x80000000, 1)
  TEST_RR(152, srl, 0x01000000, 0x80000000, 7)
  TEST_RR(153, srl, 0x00000001, 0x80000000, 31)
  TEST_RR(154, srl, 0x00000001, 0xffffffff, 31)
  TEST_RR(155, srl, 0x7fffffff, 0xffffffff, 1)
  TEST_RR(156, srl, 0x21212121, 0x21212121, 0xffffffe0) /* shift 0 */
  TEST_RR(157, srl, 0x10909090, 0x21212121, 0xffffffe1) /* shift 1 */
  TEST_RR(158, srl, 0x00000000, 0x21212121, 0xffffffff) /* shift 31 */
  TEST_RI(159, srli, 0x80000000, 0x80000000, 0)
  TEST_RI(160, srli, 0x00010000, 0x80000000, 15)
  TEST_RI(161, srli, 0x00000001, 0x80000000, 31)
  TEST_RI(162, srli, 0x01ffffff, 0xffffffff, 7)
  TEST_RI(163, srli, 0x00000001, 0xffffffff, 31)
  TEST_RI(164, srli, 0x00424242, 0x21212121, 7)
  TEST_RI_ZERO_DEST(165, srli, 0x21212121, 1)

  /* ---- SRA / SRAI (arithmetic) ---- */
  TEST_RR(170, sra, 0x80000000, 0x80000000, 0)
  TEST_RR(171, sra, 0xc0000000, 0x80000000, 1)
  TEST_RR(172, sra, 0xff000000, 0x80000000, 7)
  TEST_RR(173, sra, 0xffffffff, 0x80000000, 31)
  TEST_RR(174, sra, 0x3fffffff, 0x7fffffff, 1)
  TEST_RR(175, sra, 0x00000000, 0x7fffffff, 31)
  TEST_RR(176, sra, 0xffffffff, 0x81818181, 0xffffffff) /* shift 31 */
  TEST_RR(177, sra, 0x81818181, 0x81818181, 0xffffffe0) /* shift 0 */
  TEST_RR(178, sra, 0xff030303, 0x81818181, 0xffffffe7) /* shift 7 */
  TEST_RI(179, srai, 0x00000000, 0x00000000, 0)
  TEST_RI(180, srai, 0xc0000000, 0x80000000, 1)
  TEST_RI(181, srai, 0xffffffff, 0x80000000, 31)
  TEST_RI(182, srai, 0x00ffffff, 0x7fffffff, 7)
  TEST_RI(183, srai, 0x00000000, 0x7fffffff, 31)
  TEST_RI(184, srai, 0xff030303, 0x81818181, 7)
  TEST_RI(185, srai, 0xfffe0606, 0x81818181, 14)
  TEST_RI_SRC1_EQ_DEST(186, srai, 0xff000000, 0x80000000, 7)
  TEST_RI_ZERO_DEST(187, srai, 0x80000000, 4)

  /* ---- SLT / SLTI (signed) ---- */
  TEST_RR(200, slt, 0, 0x00000000, 0x00000000)
  TEST_RR(201, slt, 0, 0x00000001, 0x00000001)
  TEST_RR(202, slt, 1, 0x00000003, 0x00000007)
  TEST_RR(203, slt, 0, 0x00000007, 0x00000003)
  TEST_RR(204, slt, 1, 0x80000000, 0x00000000)
  TEST_RR(205, slt, 0, 0x7fffffff, 0x80000000)
  TEST_RR(206, slt, 1, 0x80000000, 0x7fffffff)
  TEST_RR(207, slt, 1, 0xffffffff, 0x00000001)
  TEST_RR(208, slt, 0, 0x00000001, 0xffffffff)
  TEST_RR(209, slt, 1, 0xfffffffe, 0xffffffff)
  TEST_RR_ZERO_SRC1(210, slt, 1, 1)
  TEST_RR_ZERO_SRC2(211, slt, 1, 0xffffffff)
  TEST_RR_ZERO_DEST(212, slt, 1, 2)
  TEST_RI(213, slti, 0, 0x00000000, 0)
  TEST_RI(214, slti, 1, 0x00000000, 1)
  TEST_RI(215, slti, 0, 0x00000000, -1)
  TEST_RI(216, slti, 1, 0x80000000, -2048)
  TEST_RI(217, slti, 0, 0x7fffffff, 2047)
  TEST_RI(218, slti, 1, 0xfffff7ff, -2048)
  TEST_RI(219, slti, 0, 0xfffff800, -2048)
  TEST_RI(220, slti, 1, 0xffffffff, 0)

  /* ---- SLTU / SLTIU (unsigned; SLTIU's immediate sign-extends, then compares unsigned) ---- */
  TEST_RR(230, sltu, 0, 0x00000000, 0x00000000)
  TEST_RR(231, sltu, 1, 0x00000003, 0x00000007)
  TEST_RR(232, sltu, 0, 0x80000000, 0x00000000)
  TEST_RR(233, sltu, 1, 0x7fffffff, 0x80000000)
  TEST_RR(234, sltu, 0, 0xffffffff, 0x00000001)
  TEST_RR(235, sltu, 1, 0xfffffffe, 0xffffffff)
  TEST_RR_ZERO_SRC1(236, sltu, 1, 5)           /* snez */
  TEST_RR_ZERO_SRC1(237, sltu, 0, 0)
  TEST_RR_ZERO_DEST(238, sltu, 1, 2)
  TEST_RI(239, sltiu, 1, 0x00000000, 1)        /* seqz */
  TEST_RI(240, sltiu, 0, 0x00000001, 1)
  TEST_RI(241, sltiu, 1, 0x00000000, -1)       /* 0 < 0xffffffff */
  TEST_RI(242, sltiu, 1, 0xfffffffe, -1)
  TEST_RI(243, sltiu, 0, 0xffffffff, -1)
  TEST_RI(244, sltiu, 0, 0x80000000, 2047)
  TEST_RI(245, sltiu, 1, 0x7fffffff, -2048)    /* 0x7fffffff < 0xfffff800 */

  /* ---- LUI / AUIPC ---- */
  TEST_CASE(250, x14, 0x00000000, lui x14, 0)
  TEST_CASE(251, x14, 0xfffff000, lui x14, 0xfffff)
  TEST_CASE(252, x14, 0x7ffff000, lui x14, 0x7ffff)
  TEST_CASE(253, x14, 0x80000000, lui x14, 0x80000)
  TEST_CASE(254, x14, 0x12345000, lui x14, 0x12345)
  TEST_CASE(255, x0, 0, lui x0, 0x80000)
  li gp, 256
  lui x14, 0x80000; srai x14, x14, 12
  FAIL_IF_NE(x14, 0xfff80000)
  /* AUIPC adds to its own address */
  li gp, 257
1: auipc x14, 0
  la x15, 1b
  bne x14, x15, skiff_fail
  li gp, 258
2: auipc x14, 1
  la x15, 2b
  sub x14, x14, x15
  FAIL_IF_NE(x14, 0x1000)
  li gp, 259
3: auipc x14, 0xfffff
  la x15, 3b
  sub x14, x15, x14
  FAIL_IF_NE(x14, 0x1000)
  li gp, 260
4: auipc x14, 0x80000      /* wraps: pc + 0x80000000 */
  la x15, 4b
  li x16, 0x80000000
  add x15, x15, x16
  bne x14, x15, skiff_fail
  li gp, 261
  auipc x0, 0x12345
  bnez x0, skiff_fail

  /* ---- NOP and HINT encodings (rd = x0) must not trap or change state ---- */
  li gp, 270
  li x14, 0x55
  nop
  addi x0, x14, 1
  slti x0, x14, 1
  andi x0, x14, 1
  ori x0, x14, 1
  xori x0, x14, 1
  add x0, x14, x14
  lui x0, 1
  FAIL_IF_NE(x14, 0x55)

TEST_END
