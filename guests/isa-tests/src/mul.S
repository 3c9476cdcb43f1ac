/* RV32M multiplication: MUL MULH MULHSU MULHU over sign/magnitude edges (0, 1, -1, INT_MIN,
 * INT_MAX, mixed signs), rd == rs1/rs2, x0 operands, and the MULH[[S]U] + MUL pair sequence.
 * Expected values computed from the spec's definitions (64-bit product, high/low word).
 * Results go to the signature. */
#define SKIFF_SIGN
#include "skiff_test.h"

TEST_BEGIN

  /* ---- MUL ---- */
  TEST_RR(2, mul, 0x00000000, 0x00000000, 0x00000000)
  TEST_RR(3, mul, 0x00000001, 0x00000001, 0x00000001)
  TEST_RR(4, mul, 0x00000015, 0x00000003, 0x00000007)
  TEST_RR(5, mul, 0x00000000, 0x00000000, 0xffff8000)
  TEST_RR(6, mul, 0x00000000, 0x80000000, 0x00000000)
  TEST_RR(7, mul, 0x00000000, 0x80000000, 0xffff8000)
  TEST_RR(8, mul, 0x0000ff7f, 0xaaaaaaab, 0x0002fe7d)
  TEST_RR(9, mul, 0x0000ff7f, 0x0002fe7d, 0xaaaaaaab)
  TEST_RR(10, mul, 0x00000000, 0xff000000, 0xff000000)
  TEST_RR(11, mul, 0x00000001, 0xffffffff, 0xffffffff)
  TEST_RR(12, mul, 0xffffffff, 0xffffffff, 0x00000001)
  TEST_RR(13, mul, 0xffffffff, 0x00000001, 0xffffffff)
  TEST_RR(14, mul, 0x00000001, 0x7fffffff, 0x7fffffff)
  TEST_RR(15, mul, 0x00000000, 0x80000000, 0x80000000)
  TEST_RR(16, mul, 0x80000000, 0x80000000, 0xffffffff)
  TEST_RR(17, mul, 0x80000000, 0x7fffffff, 0x80000000)
  TEST_RR(18, mul, 0x242d2080, 0x12345678, 0x9abcdef0)
  TEST_RR(19, mul, 0x541d5980, 0xfedcba98, 0x76543210)
  TEST_RR(20, mul, 0x00000000, 0x80000000, 0x00000002)
  TEST_RR(21, mul, 0x00000000, 0xffff0000, 0x00010000)
  TEST_RR_SRC1_EQ_DEST(22, mul, 0x0000008f, 13, 11)
  TEST_RR_SRC2_EQ_DEST(23, mul, 0x0000009a, 14, 11)
  TEST_RR_SRC12_EQ_DEST(24, mul, 0x000000a9, 0xfffffff3)
  TEST_RR_ZERO_SRC1(25, mul, 0x00000000, 31)
  TEST_RR_ZERO_SRC2(26, mul, 0x00000000, 32)
  TEST_RR_ZERO_DEST(27, mul, 33, 34)
  /* ---- MULH ---- */
  TEST_RR(30, mulh, 0x00000000, 0x00000000, 0x00000000)
  TEST_RR(31, mulh, 0x00000000, 0x00000001, 0x00000001)
  TEST_RR(32, mulh, 0x00000000, 0x00000003, 0x00000007)
  TEST_RR(33, mulh, 0x00000000, 0x00000000, 0xffff8000)
  TEST_RR(34, mulh, 0x00000000, 0x80000000, 0x00000000)
  TEST_RR(35, mulh, 0x00004000, 0x80000000, 0xffff8000)
  TEST_RR(36, mulh, 0xffff0081, 0xaaaaaaab, 0x0002fe7d)
  TEST_RR(37, mulh, 0xffff0081, 0x0002fe7d, 0xaaaaaaab)
  TEST_RR(38, mulh, 0x00010000, 0xff000000, 0xff000000)
  TEST_RR(39, mulh, 0x00000000, 0xffffffff, 0xffffffff)
  TEST_RR(40, mulh, 0xffffffff, 0xffffffff, 0x00000001)
  TEST_RR(41, mulh, 0xffffffff, 0x00000001, 0xffffffff)
  TEST_RR(42, mulh, 0x3fffffff, 0x7fffffff, 0x7fffffff)
  TEST_RR(43, mulh, 0x40000000, 0x80000000, 0x80000000)
  TEST_RR(44, mulh, 0x00000000, 0x80000000, 0xffffffff)
  TEST_RR(45, mulh, 0xc0000000, 0x7fffffff, 0x80000000)
  TEST_RR(46, mulh, 0xf8cc93d6, 0x12345678, 0x9abcdef0)
  TEST_RR(47, mulh, 0xff795e36, 0xfedcba98, 0x76543210)
  TEST_RR(48, mulh, 0xffffffff, 0x80000000, 0x00000002)
  TEST_RR(49, mulh, 0xffffffff, 0xffff0000, 0x00010000)
  TEST_RR_SRC1_EQ_DEST(50, mulh, 0x00000000, 13, 11)
  TEST_RR_SRC2_EQ_DEST(51, mulh, 0x00000000, 14, 11)
  TEST_RR_SRC12_EQ_DEST(52, mulh, 0x00000000, 0xfffffff3)
  TEST_RR_ZERO_SRC1(53, mulh, 0x00000000, 31)
  TEST_RR_ZERO_SRC2(54, mulh, 0x00000000, 32)
  TEST_RR_ZERO_DEST(55, mulh, 33, 34)
  /* ---- MULHSU ---- */
  TEST_RR(60, mulhsu, 0x00000000, 0x00000000, 0x00000000)
  TEST_RR(61, mulhsu, 0x00000000, 0x00000001, 0x00000001)
  TEST_RR(62, mulhsu, 0x00000000, 0x00000003, 0x00000007)
  TEST_RR(63, mulhsu, 0x00000000, 0x00000000, 0xffff8000)
  TEST_RR(64, mulhsu, 0x00000000, 0x80000000, 0x00000000)
  TEST_RR(65, mulhsu, 0x80004000, 0x80000000, 0xffff8000)
  TEST_RR(66, mulhsu, 0xffff0081, 0xaaaaaaab, 0x0002fe7d)
  TEST_RR(67, mulhsu, 0x0001fefe, 0x0002fe7d, 0xaaaaaaab)
  TEST_RR(68, mulhsu, 0xff010000, 0xff000000, 0xff000000)
  TEST_RR(69, mulhsu, 0xffffffff, 0xffffffff, 0xffffffff)
  TEST_RR(70, mulhsu, 0xffffffff, 0xffffffff, 0x00000001)
  TEST_RR(71, mulhsu, 0x00000000, 0x00000001, 0xffffffff)
  TEST_RR(72, mulhsu, 0x3fffffff, 0x7fffffff, 0x7fffffff)
  TEST_RR(73, mulhsu, 0xc0000000, 0x80000000, 0x80000000)
  TEST_RR(74, mulhsu, 0x80000000, 0x80000000, 0xffffffff)
  TEST_RR(75, mulhsu, 0x3fffffff, 0x7fffffff, 0x80000000)
  TEST_RR(76, mulhsu, 0x0b00ea4e, 0x12345678, 0x9abcdef0)
  TEST_RR(77, mulhsu, 0xff795e36, 0xfedcba98, 0x76543210)
  TEST_RR(78, mulhsu, 0xffffffff, 0x80000000, 0x00000002)
  TEST_RR(79, mulhsu, 0xffffffff, 0xffff0000, 0x00010000)
  TEST_RR_SRC1_EQ_DEST(80, mulhsu, 0x00000000, 13, 11)
  TEST_RR_SRC2_EQ_DEST(81, mulhsu, 0x00000000, 14, 11)
  TEST_RR_SRC12_EQ_DEST(82, mulhsu, 0xfffffff3, 0xfffffff3)
  TEST_RR_ZERO_SRC1(83, mulhsu, 0x00000000, 31)
  TEST_RR_ZERO_SRC2(84, mulhsu, 0x00000000, 32)
  TEST_RR_ZERO_DEST(85, mulhsu, 33, 34)
  /* ---- MULHU ---- */
  TEST_RR(90, mulhu, 0x00000000, 0x00000000, 0x00000000)
  TEST_RR(91, mulhu, 0x00000000, 0x00000001, 0x00000001)
  TEST_RR(92, mulhu, 0x00000000, 0x00000003, 0x00000007)
  TEST_RR(93, mulhu, 0x00000000, 0x00000000, 0xffff8000)
  TEST_RR(94, mulhu, 0x00000000, 0x80000000, 0x00000000)
  TEST_RR(95, mulhu, 0x7fffc000, 0x80000000, 0xffff8000)
  TEST_RR(96, mulhu, 0x0001fefe, 0xaaaaaaab, 0x0002fe7d)
  TEST_RR(97, mulhu, 0x0001fefe, 0x0002fe7d, 0xaaaaaaab)
  TEST_RR(98, mulhu, 0xfe010000, 0xff000000, 0xff000000)
  TEST_RR(99, mulhu, 0xfffffffe, 0xffffffff, 0xffffffff)
  TEST_RR(100, mulhu, 0x00000000, 0xffffffff, 0x00000001)
  TEST_RR(101, mulhu, 0x00000000, 0x00000001, 0xffffffff)
  TEST_RR(102, mulhu, 0x3fffffff, 0x7fffffff, 0x7fffffff)
  TEST_RR(103, mulhu, 0x40000000, 0x80000000, 0x80000000)
  TEST_RR(104, mulhu, 0x7fffffff, 0x80000000, 0xffffffff)
  TEST_RR(105, mulhu, 0x3fffffff, 0x7fffffff, 0x80000000)
  TEST_RR(106, mulhu, 0x0b00ea4e, 0x12345678, 0x9abcdef0)
  TEST_RR(107, mulhu, 0x75cd9046, 0xfedcba98, 0x76543210)
  TEST_RR(108, mulhu, 0x00000001, 0x80000000, 0x00000002)
  TEST_RR(109, mulhu, 0x0000ffff, 0xffff0000, 0x00010000)
  TEST_RR_SRC1_EQ_DEST(110, mulhu, 0x00000000, 13, 11)
  TEST_RR_SRC2_EQ_DEST(111, mulhu, 0x00000000, 14, 11)
  TEST_RR_SRC12_EQ_DEST(112, mulhu, 0xffffffe6, 0xfffffff3)
  TEST_RR_ZERO_SRC1(113, mulhu, 0x00000000, 31)
  TEST_RR_ZERO_SRC2(114, mulhu, 0x00000000, 32)
  TEST_RR_ZERO_DEST(115, mulhu, 33, 34)

  /* ---- recommended fused sequence: MULH then MUL with the same sources ---- */
  li gp, 200
  li x1, 0x80000000
  li x2, 0x7fffffff
  mulh x10, x1, x2
  mul x11, x1, x2
  FAIL_IF_NE(x10, 0xc0000000)
  FAIL_IF_NE(x11, 0x80000000)
  li gp, 201
  li x1, 0xffffffff
  mulhu x10, x1, x1
  mul x11, x1, x1
  FAIL_IF_NE(x10, 0xfffffffe)
  FAIL_IF_NE(x11, 0x00000001)

TEST_END
