/* RV32I loads and stores: LB LH LW LBU LHU (sign and zero extension at every byte/halfword
 * position), SB SH SW (truncation, neighbouring bytes untouched), positive/negative and extreme
 * 12-bit offsets, little-endian layout, rd == base, x0 as destination (no write) and as store
 * source (stores zero), store-to-load forwarding. Loaded values go to the signature. */
#define SKIFF_SIGN
#include "skiff_test.h"

TEST_BEGIN

  /* ---- LB / LBU ---- */
  TEST_LD(2, lb, 0xffffffff, 0, ld_data)
  TEST_LD(3, lb, 0x00000000, 1, ld_data)
  TEST_LD(4, lb, 0xfffffff0, 2, ld_data)
  TEST_LD(5, lb, 0x0000000f, 3, ld_data)
  TEST_LD(6, lb, 0xffffff80, 4, ld_data)
  TEST_LD(7, lb, 0x0000007f, 5, ld_data)
  TEST_LD(8, lb, 0x00000001, 6, ld_data)
  TEST_LD(9, lb, 0xfffffffe, 7, ld_data)
  TEST_LD(10, lb, 0xffffffff, -16, ld_data + 16)
  TEST_LD(11, lb, 0x0000000f, -13, ld_data + 16)
  TEST_LD(12, lbu, 0x000000ff, 0, ld_data)
  TEST_LD(13, lbu, 0x00000000, 1, ld_data)
  TEST_LD(14, lbu, 0x000000f0, 2, ld_data)
  TEST_LD(15, lbu, 0x0000000f, 3, ld_data)
  TEST_LD(16, lbu, 0x00000080, 4, ld_data)
  TEST_LD(17, lbu, 0x0000007f, 5, ld_data)
  TEST_LD(18, lbu, 0x000000fe, 7, ld_data)
  TEST_LD(19, lbu, 0x000000fe, -9, ld_data + 16)

  /* ---- LH / LHU (aligned halfwords) ---- */
  TEST_LD(20, lh, 0x000000ff, 0, ld_data)
  TEST_LD(21, lh, 0x00000ff0, 2, ld_data)
  TEST_LD(22, lh, 0x00007f80, 4, ld_data)
  TEST_LD(23, lh, 0xfffffe01, 6, ld_data)
  TEST_LD(24, lh, 0xffff8000, 8, ld_data)
  TEST_LD(25, lh, 0x00007fff, 10, ld_data)
  TEST_LD(26, lh, 0xffffffff, 12, ld_data)
  TEST_LD(27, lh, 0x00000000, 14, ld_data)
  TEST_LD(28, lh, 0xffff8000, -8, ld_data + 16)
  TEST_LD(29, lhu, 0x000000ff, 0, ld_data)
  TEST_LD(30, lhu, 0x0000fe01, 6, ld_data)
  TEST_LD(31, lhu, 0x00008000, 8, ld_data)
  TEST_LD(32, lhu, 0x00007fff, 10, ld_data)
  TEST_LD(33, lhu, 0x0000ffff, 12, ld_data)
  TEST_LD(34, lhu, 0x0000ffff, -4, ld_data + 16)

  /* ---- LW ---- */
  TEST_LD(40, lw, 0x0ff000ff, 0, ld_data)
  TEST_LD(41, lw, 0xfe017f80, 4, ld_data)
  TEST_LD(42, lw, 0x7fff8000, 8, ld_data)
  TEST_LD(43, lw, 0x0000ffff, 12, ld_data)
  TEST_LD(44, lw, 0x0ff000ff, -16, ld_data + 16)
  TEST_LD(45, lw, 0x0000ffff, -4, ld_data + 16)

  /* ---- extreme offsets: +2047 and -2048 ---- */
  TEST_LD(46, lbu, 0x000000a5, 2047, far_data)
  TEST_LD(47, lw, 0x5a5aa5a5, -2048, far_data + 4096)
  TEST_LD(48, lw, 0x5a5aa5a5, 2044, far_data + 4)

  /* ---- rd == base ---- */
  li gp, 50
  la x5, ld_data
  lw x5, 4(x5)
  FAIL_IF_NE(x5, 0xfe017f80)
  /* ---- x0 as destination: no write ---- */
  li gp, 51
  la x5, ld_data
  lw x0, 0(x5)
  lb x0, 0(x5)
  lhu x0, 0(x5)
  bnez x0, skiff_fail
  mv x6, x0
  bnez x6, skiff_fail

  /* ---- SW / SH / SB ---- */
  TEST_ST(60, lw, sw, 0x00aa00aa, 0, st_data)
  TEST_ST(61, lw, sw, 0xaa00aa00, 4, st_data)
  TEST_ST(62, lw, sw, 0x0aa00aa0, -4, st_data + 12)
  TEST_ST(63, lw, sw, 0xa00aa00a, 12, st_data)
  TEST_ST(64, lh, sh, 0x000000aa, 0, st_data)
  TEST_ST(65, lh, sh, 0xffffaa00, 2, st_data)
  TEST_ST(66, lhu, sh, 0x0000beef, 6, st_data)
  TEST_ST(67, lb, sb, 0xffffffaa, 0, st_data)
  TEST_ST(68, lb, sb, 0x00000000, 1, st_data)
  TEST_ST(69, lbu, sb, 0x000000ef, 2, st_data)
  TEST_ST(70, lb, sb, 0x0000007f, -1, st_data + 4)

  /* Stored bytes land little-endian and leave their neighbours alone. */
  li gp, 80
  la x1, st_data
  li x2, 0xaaaaaaaa
  sw x2, 16(x1)
  li x2, 0x12
  sb x2, 17(x1)
  lw x14, 16(x1)
  FAIL_IF_NE(x14, 0xaaaa12aa)
  SIG_PUT(x14)
  li gp, 81
  li x2, 0x12345678          /* SH keeps only the low halfword */
  sh x2, 18(x1)
  lw x14, 16(x1)
  FAIL_IF_NE(x14, 0x567812aa)
  SIG_PUT(x14)
  li gp, 82
  li x2, 0xcafebabe          /* SB keeps only the low byte */
  sb x2, 16(x1)
  lw x14, 16(x1)
  FAIL_IF_NE(x14, 0x567812be)
  SIG_PUT(x14)
  li gp, 83                  /* a word store read back byte by byte */
  li x2, 0x44332211
  sw x2, 20(x1)
  lbu x10, 20(x1)
  lbu x11, 21(x1)
  lbu x12, 22(x1)
  lbu x13, 23(x1)
  FAIL_IF_NE(x10, 0x11)
  FAIL_IF_NE(x11, 0x22)
  FAIL_IF_NE(x12, 0x33)
  FAIL_IF_NE(x13, 0x44)
  lhu x10, 22(x1)
  FAIL_IF_NE(x10, 0x4433)
  li gp, 84                  /* x0 as store source stores zero */
  li x2, -1
  sw x2, 24(x1)
  sb x0, 25(x1)
  sh x0, 26(x1)
  lw x14, 24(x1)
  FAIL_IF_NE(x14, 0x000000ff)
  SIG_PUT(x14)
  li gp, 85
  sw x0, 24(x1)
  lw x14, 24(x1)
  FAIL_IF_NE(x14, 0)
  li gp, 86                  /* store then dependent load of a different width */
  li x2, 0x8081fe7f
  sw x2, 28(x1)
  lh x14, 30(x1)
  FAIL_IF_NE(x14, 0xffff8081)
  lb x14, 28(x1)
  FAIL_IF_NE(x14, 0x7f)
  lb x14, 29(x1)
  FAIL_IF_NE(x14, 0xfffffffe)
  li gp, 87                  /* store with extreme offsets */
  la x1, far_data + 2048
  li x2, 0x13572468
  sw x2, -2048(x1)
  la x1, far_data
  lw x14, 0(x1)
  FAIL_IF_NE(x14, 0x13572468)
  li x2, 0x99
  sb x2, 2047(x1)
  lbu x14, 2047(x1)
  FAIL_IF_NE(x14, 0x99)
  li gp, 88                  /* store data register == base register */
  la x1, st_data + 32
  sw x1, 0(x1)
  lw x14, 0(x1)
  bne x14, x1, skiff_fail

  /* ---- a loop over a buffer: sum of stored words ---- */
  li gp, 90
  la x1, st_data
  li x2, 0
  li x5, 192
1: sw x2, 0(x1)
  addi x1, x1, 4
  addi x2, x2, 3
  blt x2, x5, 1b
  la x1, st_data
  li x6, 0
  li x7, 64
3: lw x8, 0(x1)
  add x6, x6, x8
  addi x1, x1, 4
  addi x7, x7, -1
  bnez x7, 3b
  FAIL_IF_NE(x6, 6048)       /* 3 * (0 + 1 + ... + 63) */
  SIG_PUT(x6)

TEST_END

  .data
  .balign 16
ld_data:
  .byte 0xff, 0x00, 0xf0, 0x0f, 0x80, 0x7f, 0x01, 0xfe
  .byte 0x00, 0x80, 0xff, 0x7f, 0xff, 0xff, 0x00, 0x00
  .balign 16
st_data:
  .fill 64, 4, 0
  .balign 4096
far_data:
  .fill 511, 4, 0x5a5aa5a5
  .word 0xa5000000            /* byte at offset 2047 = 0xa5 */
  .fill 512, 4, 0x5a5aa5a5
