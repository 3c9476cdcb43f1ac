/* Sv32 accessed/dirty bits, SFENCE.VMA, MPRV, and HTIF through a mapping:
 *  - a load from a PTE with A = 0, a store with A or D = 0, a fetch with A = 0, an AMO with D = 0
 *    and a superpage with A = 0 either page-fault (software-managed A/D) or succeed with the leaf
 *    updated by the hardware: A set, D set only by stores; non-leaf PTEs are never touched
 *  - an access that fails its permission check never sets A or D
 *  - after a PTE change, SFENCE.VMA (all, or the one VA) makes the new mapping visible to S
 *  - mstatus.MPRV makes M-mode loads and stores use MPP's translation and protection (SUM too),
 *    not its instruction fetches
 *  - the test ends with S-mode writing tohost through a virtual alias of the HTIF page. */
#include "skiff_test.h"
#include "sv32.h"

#define PTE_ADDR(i) (sv32_l0_test + 4 * (i))
#define LOAD_PTE(reg, i) la reg, PTE_ADDR(i); lw reg, 0(reg)
/* In mode mpp run `code` on VA in t0; if it traps (cause c) the PTE must be unchanged, else it
 * must equal the original with `set` added. */
#define TEST_AD(n, mpp, i, c, set, ...)                                                         \
  li gp, n; LOAD_PTE(s2, i); GOTO_MODE(mpp); EXPECT_TRAP(97f); __VA_ARGS__; CLEAR_EXPECT;      \
  GOTO_M; LOAD_PTE(t1, i); ori t2, s2, set; bne t1, t2, skiff_fail; j 96f;                     \
  97: CHECK_CAUSE(c); LOAD_PTE(t1, i); bne t1, s2, skiff_fail; 96:

TEST_BEGIN
  SV32_SETUP
  la t0, page_a
  li t1, 0xaaaa0000
  sw t1, 0(t0)
  la t0, page_b
  li t1, 0xbbbb0000
  sw t1, 0(t0)
  la t0, sv32_root + 4 * (WINDOW_VA >> 22)
  lw s3, 0(t0)                     /* the window's root pointer, to compare later */

  /* ---- A and D ---- */
  SET_TEST_PTE(0, page_a, PTE_V | PTE_R | PTE_W)
  li t0, WVA(0)
  TEST_AD(2, MPP_S, 0, CAUSE_LOAD_PAGE, PTE_A, lw t1, 0(t0))
  SET_TEST_PTE(1, page_a, PTE_V | PTE_R | PTE_W | PTE_A)
  li t0, WVA(1)
  TEST_AD(3, MPP_S, 1, CAUSE_STORE_PAGE, PTE_D, sw t1, 4(t0))
  SET_TEST_PTE(2, page_a, PTE_V | PTE_R | PTE_W)
  li t0, WVA(2)
  TEST_AD(4, MPP_S, 2, CAUSE_STORE_PAGE, PTE_A | PTE_D, sw t1, 8(t0))
  SET_TEST_PTE(3, s_code_page, PTE_V | PTE_X)
  li t0, WVA(3)
  TEST_AD(5, MPP_S, 3, CAUSE_FETCH_PAGE, PTE_A, jalr ra, 0(t0))
  SET_TEST_PTE(4, page_a, PTE_V | PTE_R | PTE_W | PTE_A)
  li t0, WVA(4)
  TEST_AD(6, MPP_S, 4, CAUSE_STORE_PAGE, PTE_D, amoor.w t1, x0, (t0))
  SET_TEST_PTE(5, page_b, PTE_V | PTE_R | PTE_W | PTE_U)
  li gp, 7                         /* from U (the fragment lives on a U page) */
  LOAD_PTE(s2, 5)
  li t0, WVA(5)
  EXPECT_TRAP(2f)
  RUN_U(u_load)
  CLEAR_EXPECT
  FAIL_IF_NE(t1, 0xbbbb0000)
  LOAD_PTE(t1, 5)
  ori t2, s2, PTE_A
  bne t1, t2, skiff_fail
  j 3f
2: CHECK_CAUSE(CAUSE_LOAD_PAGE)
  LOAD_PTE(t1, 5)
  bne t1, s2, skiff_fail
3:
  li gp, 8                         /* non-leaf entries untouched by all of the above */
  la t0, sv32_root + 4 * (WINDOW_VA >> 22)
  lw t1, 0(t0)
  bne t1, s3, skiff_fail
  li gp, 9                         /* superpage leaf with A = 0 */
  SET_ROOT_RAW(0x302, ((0x80000000 >> 12) << 10) | PTE_V | PTE_R | PTE_W)
  la t0, sv32_root + 4 * 0x302
  lw s2, 0(t0)
  la t0, page_b
  li t2, 0xc0800000 - RAM_PA
  add t0, t0, t2
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
  lw t1, 0(t0)
  CLEAR_EXPECT
  GOTO_M
  FAIL_IF_NE(t1, 0xbbbb0000)
  la t0, sv32_root + 4 * 0x302
  lw t1, 0(t0)
  ori t2, s2, PTE_A
  bne t1, t2, skiff_fail
  j 3f
2: CHECK_CAUSE(CAUSE_LOAD_PAGE)
  la t0, sv32_root + 4 * 0x302
  lw t1, 0(t0)
  bne t1, s2, skiff_fail
3:
  /* a failing permission check sets nothing */
  SET_TEST_PTE(6, page_a, PTE_V | PTE_R)
  li gp, 10
  li t0, WVA(6)
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  sw t1, 0(t0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_STORE_PAGE)
  LOAD_PTE(t1, 6)
  la t2, page_a
  srli t2, t2, 12
  slli t2, t2, 10
  ori t2, t2, PTE_V | PTE_R
  bne t1, t2, skiff_fail
  SET_TEST_PTE(7, page_a, PTE_V | PTE_R | PTE_W | PTE_U)   /* U page from S without SUM */
  li gp, 11
  li t0, WVA(7)
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  lw t1, 0(t0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_PAGE)
  LOAD_PTE(t1, 7)
  andi t1, t1, PTE_A | PTE_D
  bnez t1, skiff_fail

  /* ---- SFENCE.VMA ---- */
  li gp, 20
  SET_TEST_PTE(20, page_a, PTE_LEAF)
  li t0, WVA(20)
  GOTO_MODE(MPP_S)
  lw t1, 0(t0)                     /* cached now, perhaps */
  GOTO_M
  FAIL_IF_NE(t1, 0xaaaa0000)
  la t5, page_b                    /* remap without a fence ... */
  srli t5, t5, 12
  slli t5, t5, 10
  ori t5, t5, PTE_LEAF
  la t6, PTE_ADDR(20)
  sw t5, 0(t6)
  li t0, WVA(20)
  GOTO_MODE(MPP_S)
  sfence.vma                       /* ... then S fences everything */
  lw t1, 0(t0)
  GOTO_M
  FAIL_IF_NE(t1, 0xbbbb0000)
  li gp, 21                        /* fence of one address */
  la t5, page_a
  srli t5, t5, 12
  slli t5, t5, 10
  ori t5, t5, PTE_LEAF
  la t6, PTE_ADDR(20)
  sw t5, 0(t6)
  li t0, WVA(20)
  GOTO_MODE(MPP_S)
  sfence.vma t0, x0
  lw t1, 0(t0)
  GOTO_M
  FAIL_IF_NE(t1, 0xaaaa0000)
  li gp, 22                        /* fence of one address and ASID 0 */
  la t5, page_b
  srli t5, t5, 12
  slli t5, t5, 10
  ori t5, t5, PTE_LEAF
  la t6, PTE_ADDR(20)
  sw t5, 0(t6)
  li t0, WVA(20)
  GOTO_MODE(MPP_S)
  sfence.vma t0, zero
  lw t1, 0(t0)
  GOTO_M
  FAIL_IF_NE(t1, 0xbbbb0000)
  li gp, 23                        /* an invalidated PTE faults after the fence */
  la t6, PTE_ADDR(20)
  sw zero, 0(t6)
  li t0, WVA(20)
  GOTO_MODE(MPP_S)
  sfence.vma
  EXPECT_TRAP(1f)
  lw t1, 0(t0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_PAGE)
  li gp, 24                        /* S switches satp itself */
  GOTO_MODE(MPP_S)
  csrr s4, satp
  csrw satp, x0
  sfence.vma
  la t0, page_a                    /* Bare */
  lw t1, 0(t0)
  csrw satp, s4
  sfence.vma
  GOTO_M
  FAIL_IF_NE(t1, 0xaaaa0000)

  /* ---- MPRV ---- */
  SET_TEST_PTE(21, page_b, PTE_LEAF)
  li gp, 30                        /* MPP = S: loads and stores translated */
  li t0, WVA(21)
  li t2, 0x3030
  li t3, MSTATUS_MPP
  csrc mstatus, t3
  li t3, MPP_S | MSTATUS_MPRV
  csrs mstatus, t3
  lw t1, 0(t0)
  sw t2, 4(t0)
  li t3, MSTATUS_MPRV
  csrc mstatus, t3
  FAIL_IF_NE(t1, 0xbbbb0000)
  la t0, page_b
  lw t1, 4(t0)
  FAIL_IF_NE(t1, 0x3030)
  li gp, 31                        /* MPP = U: a supervisor page faults, in M */
  li t0, WVA(21)
  li t3, MSTATUS_MPP
  csrc mstatus, t3
  EXPECT_TRAP(1f)
  li t3, MSTATUS_MPRV
  csrs mstatus, t3
  lw t1, 0(t0)
  j skiff_fail
1: li t3, MSTATUS_MPRV             /* first: the checks below load from supervisor pages */
  csrc mstatus, t3
  CHECK_CAUSE(CAUSE_LOAD_PAGE)
  CHECK_TVAL(WVA(21))
  CHECK_PRIV(PRV_M)
  li gp, 32                        /* MPP = S and a U page: needs SUM */
  SET_TEST_PTE(22, page_a, PTE_LEAF | PTE_U)
  li t0, WVA(22)
  li t3, MSTATUS_MPP
  csrc mstatus, t3
  li t3, MPP_S
  csrs mstatus, t3
  EXPECT_TRAP(1f)
  li t3, MSTATUS_MPRV
  csrs mstatus, t3
  lw t1, 0(t0)
  j skiff_fail
1: li t3, MSTATUS_MPRV
  csrc mstatus, t3
  CHECK_CAUSE(CAUSE_LOAD_PAGE)
  li gp, 33
  li t3, MSTATUS_MPP
  csrc mstatus, t3
  li t3, MPP_S | MSTATUS_SUM | MSTATUS_MPRV
  csrs mstatus, t3
  lw t1, 0(t0)
  li t3, MSTATUS_SUM | MSTATUS_MPRV
  csrc mstatus, t3
  FAIL_IF_NE(t1, 0xaaaa0000)
  li t3, MSTATUS_MPP
  csrs mstatus, t3

  /* ---- pass: S writes tohost through a virtual alias ---- */
  li gp, 40
  SET_TEST_PTE(30, tohost, PTE_LEAF)
  la t2, tohost
  slli t2, t2, 20                  /* page offset of tohost */
  srli t2, t2, 20
  li t0, WVA(30)
  add t0, t0, t2
  li t1, 1
  GOTO_MODE(MPP_S)
  sw t1, 0(t0)
  sw zero, 4(t0)
1: j 1b

TEST_END

  .balign 4096
s_code_page:
  li a0, 42
  ret
  .balign 4096

USER_CODE_BEGIN
u_load:
  lw t1, 0(t0)
  USER_RETURN
USER_CODE_END

  .data
  .balign 4096
page_a:
  .space 4096
page_b:
  .space 4096

SV32_DATA
