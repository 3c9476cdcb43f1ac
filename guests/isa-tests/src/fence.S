/* FENCE (all pred/succ sets, FENCE.TSO, PAUSE, reserved rs1/rd/fm fields ignored as the base ISA
 * requires) and Zifencei FENCE.I: self-modifying code executes the new instruction after FENCE.I,
 * repeatedly, in a loop and at a page boundary; FENCE.I's reserved imm/rs1/rd fields are
 * ignored. */
#include "skiff_test.h"

/* addi a0, x0, imm */
#define ADDI_A0(imm) ((((imm) & 0xfff) << 20) | (10 << 7) | 0x13)
#define RET_INSN 0x00008067

TEST_BEGIN

  li gp, 2
  li x14, 7
  fence
  fence rw, rw
  fence r, r
  fence w, w
  fence i, o
  fence iorw, iorw
  fence w, r
  fence.tso
  .word 0x0100000f              /* pause: fence w, 0 */
  .word 0x0ff5858f              /* fence iorw, iorw with rs1 = a1, rd = a1: fields ignored */
  .word 0x0ff0000f | (1 << 28)  /* fm = 0001 (reserved): executes as an ordinary fence */
  FAIL_IF_NE(x14, 7)
  bnez x0, skiff_fail

  /* ---- self-modifying code ---- */
  li gp, 3
  la x5, smc_buf
  li x6, ADDI_A0(42)
  sw x6, 0(x5)
  li x6, RET_INSN
  sw x6, 4(x5)
  fence.i
  li a0, 0
  jalr ra, 0(x5)
  FAIL_IF_NE(a0, 42)

  li gp, 4                      /* rewrite after it has executed once */
  li x6, ADDI_A0(-5)
  sw x6, 0(x5)
  fence.i
  jalr ra, 0(x5)
  FAIL_IF_NE(a0, -5)

  li gp, 5                      /* rewrite in a loop: each pass sees its own store */
  li x8, 0
  li x9, 20
1: li x6, ADDI_A0(0)
  slli x7, x8, 20
  or x6, x6, x7                 /* addi a0, x0, x8 */
  sw x6, 0(x5)
  fence.i
  jalr ra, 0(x5)
  bne a0, x8, skiff_fail
  addi x8, x8, 1
  bne x8, x9, 1b

  li gp, 6                      /* FENCE.I with nonzero reserved fields still synchronizes */
  li x6, ADDI_A0(77)
  sw x6, 0(x5)
  .word 0x0015950f              /* fence.i with rd = a0, rs1 = a1, imm = 1 */
  li a0, 0
  jalr ra, 0(x5)
  FAIL_IF_NE(a0, 77)

  li gp, 7                      /* code straddling a page boundary, modified by halfwords */
  la x5, smc_page_end          /* last word of a page; the ret is on the next page */
  li x6, ADDI_A0(1)
  sw x6, 0(x5)
  li x6, RET_INSN
  sw x6, 4(x5)
  fence.i
  jalr ra, 0(x5)
  FAIL_IF_NE(a0, 1)
  li x6, ADDI_A0(0x123)
  srli x7, x6, 16
  sh x7, 2(x5)                  /* only the upper half (the immediate) changes */
  fence.i
  jalr ra, 0(x5)
  FAIL_IF_NE(a0, 0x123)

  li gp, 8                      /* modify the instruction right after a store in straight-line code */
  la x5, 2f
  li x6, ADDI_A0(99)
  sw x6, 0(x5)
  fence.i
  li a0, 0
2: addi a0, x0, 1               /* replaced by addi a0, x0, 99 before it runs */
  FAIL_IF_NE(a0, 99)

TEST_END

  .data
  .balign 64
smc_buf:
  .word 0, 0, 0, 0
  .balign 4096
  .fill 1023, 4, 0
smc_page_end:
  .word 0, 0
