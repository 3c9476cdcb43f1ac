/* Sv32 translation and protection, S and U mode:
 *  - two-level walks (4 KiB pages), aliases of one frame, 4 MiB superpages (load, store, fetch),
 *    a misaligned superpage (PPN[0] != 0) faults
 *  - page faults (12/13/15) with stval = the virtual address for: invalid leaf, invalid root
 *    entry, W without R (and W|X without R), a pointer PTE at level 0, load from execute-only
 *    (MXR = 0), store to read-only, fetch from non-executable (sepc = stval = target)
 *  - MXR makes execute-only pages readable (not writable); SUM lets S load/store U pages but never
 *    fetch from them; U cannot touch supervisor pages; U store to a read-only U page faults
 *  - a page-table walk that reaches an unmapped physical address raises an access fault of the
 *    original access type (5/7/1)
 *  - page faults delegated to S with medeleg (from S and from U)
 *  - a misaligned access straddling into an invalid page: misaligned trap, or a page fault whose
 *    stval is the access's address or an address inside the faulting part
 *  - code stored through a writable alias runs through an executable alias after FENCE.I
 *  - satp = 0 (Bare) turns translation off again. */
#include "skiff_test.h"
#include "sv32.h"

/* S-mode load/store/fetch at VA that must page-fault with cause c and stval = VA (back in M). */
#define S_FAULT(n, c, va, ...)                                                                  \
  li gp, n; li t0, va; GOTO_MODE(MPP_S); EXPECT_TRAP(99f); 98: __VA_ARGS__; j skiff_fail;      \
  99: CHECK_CAUSE(c); CHECK_TVAL(va); CHECK_PRIV(PRV_S)
#define S_LOAD_FAULT(n, va) S_FAULT(n, CAUSE_LOAD_PAGE, va, lw t1, 0(t0)); CHECK_EPC(98b)
#define S_STORE_FAULT(n, va) S_FAULT(n, CAUSE_STORE_PAGE, va, sw t1, 0(t0)); CHECK_EPC(98b)
#define S_FETCH_FAULT(n, va) S_FAULT(n, CAUSE_FETCH_PAGE, va, jalr ra, 0(t0)); CHECK_EPC_VAL(va)
#define CHECK_EPC_VAL(v) la t5, skiff_trap; lw t5, TR_EPC(t5); FAIL_IF_NE(t5, v)
/* S-mode load at VA must return `value`. */
#define S_LOAD_OK(n, va, value)                                                                 \
  li gp, n; li t0, va; GOTO_MODE(MPP_S); lw t1, 0(t0); GOTO_M; FAIL_IF_NE(t1, value)

TEST_BEGIN
  SV32_SETUP
  la t0, page_a
  li t1, 0xaaaa0000
  sw t1, 0(t0)
  li t1, 0xaaaa0ff0
  li t2, 0xff0
  add t2, t0, t2
  sw t1, 0(t2)
  la t0, page_b
  li t1, 0xbbbb0000
  sw t1, 0(t0)

  /* ---- identity and the test window ---- */
  li gp, 2                         /* S runs on the identity map */
  GOTO_MODE(MPP_S)
  la t0, page_a
  lw t1, 0(t0)
  GOTO_M
  FAIL_IF_NE(t1, 0xaaaa0000)
  SET_TEST_PTE(0, page_a, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
  S_LOAD_OK(3, WVA(0), 0xaaaa0000)
  S_LOAD_OK(4, WVA(0) + 0xff0, 0xaaaa0ff0)   /* offset bits pass through */
  li gp, 5                         /* a store through the window lands in the frame */
  li t0, WVA(0) + 8
  li t1, 0x5555
  GOTO_MODE(MPP_S)
  sw t1, 0(t0)
  GOTO_M
  la t0, page_a
  lw t1, 8(t0)
  FAIL_IF_NE(t1, 0x5555)
  li gp, 6                         /* two VAs, one frame */
  SET_TEST_PTE(1, page_a, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
  SET_TEST_PTE(2, page_b, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
  li t0, WVA(1) + 12
  li t2, WVA(0) + 12
  li t1, 0x6666
  GOTO_MODE(MPP_S)
  sw t1, 0(t0)
  lw t3, 0(t2)
  li t4, WVA(2)
  lw t4, 0(t4)
  GOTO_M
  FAIL_IF_NE(t3, 0x6666)
  FAIL_IF_NE(t4, 0xbbbb0000)

  /* ---- superpages ---- */
  li gp, 10                        /* load through the superpage */
  la t0, page_b
  li t2, SUPER_VA - RAM_PA
  add t0, t0, t2
  GOTO_MODE(MPP_S)
  lw t1, 0(t0)
  GOTO_M
  FAIL_IF_NE(t1, 0xbbbb0000)
  li gp, 11                        /* store through the superpage */
  la t0, page_b
  li t2, RAM_PA
  sub t0, t0, t2
  li t2, SUPER_VA
  add t0, t0, t2
  li t1, 0x1111
  GOTO_MODE(MPP_S)
  sw t1, 4(t0)
  GOTO_M
  la t0, page_b
  lw t1, 4(t0)
  FAIL_IF_NE(t1, 0x1111)
  li gp, 12                        /* fetch through the superpage */
  la t0, s_ret42
  li t2, RAM_PA
  sub t0, t0, t2
  li t2, SUPER_VA
  add t0, t0, t2
  li a0, 0
  GOTO_MODE(MPP_S)
  jalr ra, 0(t0)
  GOTO_M
  FAIL_IF_NE(a0, 42)
  li gp, 13                        /* misaligned superpage: PPN[0] != 0 */
  SET_ROOT_RAW(0x301, ((0x80001000 >> 12) << 10) | PTE_LEAF)
  S_LOAD_FAULT(13, 0xc0400000)
  S_STORE_FAULT(14, 0xc0400010)
  S_FETCH_FAULT(15, 0xc0400020)

  /* ---- invalid and reserved PTEs ---- */
  SET_TEST_PTE_RAW(3, 0)
  S_LOAD_FAULT(20, WVA(3))
  S_STORE_FAULT(21, WVA(3) + 4)
  S_FETCH_FAULT(22, WVA(3) + 8)
  SET_TEST_PTE(3, page_a, PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)     /* V = 0, rest set */
  S_LOAD_FAULT(23, WVA(3))
  S_LOAD_FAULT(24, 0x50000000)     /* root entry invalid */
  S_STORE_FAULT(25, 0x50001000)
  SET_TEST_PTE(4, page_a, PTE_V | PTE_W | PTE_A | PTE_D)             /* W without R */
  S_LOAD_FAULT(26, WVA(4))
  S_STORE_FAULT(27, WVA(4))
  SET_TEST_PTE(4, page_a, PTE_V | PTE_W | PTE_X | PTE_A | PTE_D)     /* W|X without R */
  S_LOAD_FAULT(28, WVA(4))
  S_FETCH_FAULT(29, WVA(4))
  SET_TEST_PTE(5, page_a, PTE_V)                                     /* pointer at level 0 */
  S_LOAD_FAULT(30, WVA(5))
  S_STORE_FAULT(31, WVA(5))

  /* ---- R / W / X ---- */
  SET_TEST_PTE(6, page_a, PTE_V | PTE_X | PTE_A)                     /* execute-only */
  S_LOAD_FAULT(40, WVA(6))
  li gp, 41                        /* MXR: loads from X pages allowed */
  li t0, MSTATUS_MXR
  csrs mstatus, t0
  S_LOAD_OK(41, WVA(6), 0xaaaa0000)
  S_STORE_FAULT(42, WVA(6))        /* but never stores */
  li t0, MSTATUS_MXR
  csrc mstatus, t0
  SET_TEST_PTE(7, page_a, PTE_V | PTE_R | PTE_A)                     /* read-only */
  S_LOAD_OK(43, WVA(7), 0xaaaa0000)
  S_STORE_FAULT(44, WVA(7) + 0x20)
  li gp, 45                        /* AMO to read-only: store/AMO page fault */
  li t0, WVA(7)
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  amoadd.w t1, t1, (t0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_STORE_PAGE)
  CHECK_TVAL(WVA(7))
  li gp, 46                        /* fetch from a readable, writable, non-executable page */
  SET_TEST_PTE(8, s_code_page, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
  S_FETCH_FAULT(46, WVA(8) + 0)
  li gp, 47                        /* execute-only is enough to run */
  SET_TEST_PTE(8, s_code_page, PTE_V | PTE_X | PTE_A)
  li t0, WVA(8) + 0
  li a0, 0
  GOTO_MODE(MPP_S)
  jalr ra, 0(t0)
  GOTO_M
  FAIL_IF_NE(a0, 42)

  /* ---- SUM ---- */
  SET_TEST_PTE(9, page_b, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D)
  S_LOAD_FAULT(50, WVA(9))
  S_STORE_FAULT(51, WVA(9))
  li t0, MSTATUS_SUM
  csrs mstatus, t0
  S_LOAD_OK(52, WVA(9), 0xbbbb0000)
  li gp, 53
  li t0, WVA(9) + 16
  li t1, 0x5353
  GOTO_MODE(MPP_S)
  sw t1, 0(t0)
  GOTO_M
  la t0, page_b
  lw t1, 16(t0)
  FAIL_IF_NE(t1, 0x5353)
  SET_TEST_PTE(10, s_code_page, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A)
  S_FETCH_FAULT(54, WVA(10) + 0)   /* S never runs U code */
  li t0, MSTATUS_SUM
  csrc mstatus, t0
  S_FETCH_FAULT(55, WVA(10) + 0)

  /* ---- U mode ---- */
  li gp, 60                        /* U reads a U page */
  li t0, WVA(9)
  RUN_U(u_load)
  FAIL_IF_NE(t1, 0xbbbb0000)
  li gp, 61                        /* U cannot read a supervisor page */
  li t0, WVA(0)
  EXPECT_TRAP(1f)
  RUN_U(u_load)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_PAGE)
  CHECK_TVAL(WVA(0))
  CHECK_PRIV(PRV_U)
  li gp, 62                        /* ... nor write it */
  li t0, WVA(0)
  EXPECT_TRAP(1f)
  RUN_U(u_store)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_STORE_PAGE)
  CHECK_TVAL(WVA(0))
  li gp, 63                        /* ... nor run it */
  li t0, WVA(8) + 0
  EXPECT_TRAP(1f)
  RUN_U(u_call)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_FETCH_PAGE)
  CHECK_TVAL(WVA(8) + 0)
  li gp, 64                        /* U store to a read-only U page */
  SET_TEST_PTE(11, page_b, PTE_V | PTE_R | PTE_U | PTE_A)
  li t0, WVA(11)
  EXPECT_TRAP(1f)
  RUN_U(u_store)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_STORE_PAGE)
  CHECK_TVAL(WVA(11))
  li gp, 65                        /* U runs U code reached through the window */
  SET_TEST_PTE(12, u_code_page, PTE_V | PTE_X | PTE_U | PTE_A)
  li t0, WVA(12) + 0
  RUN_U(u_call)
  FAIL_IF_NE(a0, 7)
  li gp, 66                        /* U and MXR on an execute-only U page */
  li t0, WVA(12)
  EXPECT_TRAP(1f)
  RUN_U(u_load)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_PAGE)
  li t0, MSTATUS_MXR
  csrs mstatus, t0
  li t0, WVA(12)
  RUN_U(u_load)
  li t0, MSTATUS_MXR
  csrc mstatus, t0
  la t2, u_code_page
  lw t2, 0(t2)
  bne t1, t2, skiff_fail

  /* ---- access fault while walking ---- */
  SET_ROOT_RAW(0x180, ((UNMAPPED_PA >> 12) << 10) | PTE_V)   /* level-0 table in a hole */
  /* QEMU 7.2 reports a failed PTE read as a page fault */
  IF_QEMU(1f)
  S_FAULT(70, CAUSE_LOAD_ACCESS, 0x60000000, lw t1, 0(t0))
  S_FAULT(71, CAUSE_STORE_ACCESS, 0x60000004, sw t1, 0(t0))
  S_FAULT(72, CAUSE_FETCH_ACCESS, 0x60000008, jalr ra, 0(t0))
  j 2f
1: S_FAULT(70, CAUSE_LOAD_PAGE, 0x60000000, lw t1, 0(t0))
  S_FAULT(71, CAUSE_STORE_PAGE, 0x60000004, sw t1, 0(t0))
  S_FAULT(72, CAUSE_FETCH_PAGE, 0x60000008, jalr ra, 0(t0))
2:
  SET_ROOT_RAW(0x181, ((UNMAPPED_PA2 >> 12) << 10) | PTE_LEAF)  /* leaf superpage on a hole */
  S_FAULT(73, CAUSE_LOAD_ACCESS, 0x60400000, lw t1, 0(t0))

  /* ---- page faults delegated to S ---- */
  li t0, (1 << CAUSE_FETCH_PAGE) | (1 << CAUSE_LOAD_PAGE) | (1 << CAUSE_STORE_PAGE)
  csrw medeleg, t0
  li gp, 80
  li t0, WVA(3)
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  lw t1, 0(t0)
  j skiff_fail
1: CHECK_HANDLER(PRV_S)
  CHECK_CAUSE(CAUSE_LOAD_PAGE)
  CHECK_TVAL(WVA(3))
  CHECK_PRIV(PRV_S)
  GOTO_M
  li gp, 81                        /* from U: resumes in S, SPP = U */
  li t0, WVA(0)
  EXPECT_TRAP(1f)
  RUN_U(u_store)
  j skiff_fail
1: CHECK_HANDLER(PRV_S)
  CHECK_CAUSE(CAUSE_STORE_PAGE)
  CHECK_TVAL(WVA(0))
  CHECK_PRIV(PRV_U)
  GOTO_M
  csrw medeleg, x0

  /* ---- misaligned access across a page boundary into an invalid page ---- */
  SET_TEST_PTE(13, page_a, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
  SET_TEST_PTE_RAW(14, 0)
  li gp, 85                        /* trapped as misaligned, or page fault on either half */
  li t0, WVA(13) + 0xffe
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  lw t1, 0(t0)
  j skiff_fail
1: la t5, skiff_trap
  lw t5, TR_CAUSE(t5)
  li t6, CAUSE_MISALIGNED_LOAD
  bne t5, t6, 2f
  CHECK_TVAL(WVA(13) + 0xffe)
  j 3f
2: FAIL_IF_NE(t5, CAUSE_LOAD_PAGE)
  la t5, skiff_trap                /* the access's address or one inside the faulting part */
  lw t5, TR_TVAL(t5)
  li t6, WVA(13) + 0xffe
  beq t5, t6, 3f
  li t6, WVA(14)
  bltu t5, t6, skiff_fail
  li t6, WVA(13) + 0xffe + 4
  bgeu t5, t6, skiff_fail
3: li gp, 86
  li t0, WVA(13) + 0xffd
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  sw t1, 0(t0)
  j skiff_fail
1: la t5, skiff_trap
  lw t5, TR_CAUSE(t5)
  li t6, CAUSE_MISALIGNED_STORE
  bne t5, t6, 2f
  CHECK_TVAL(WVA(13) + 0xffd)
  j 3f
2: FAIL_IF_NE(t5, CAUSE_STORE_PAGE)
  la t5, skiff_trap
  lw t5, TR_TVAL(t5)
  li t6, WVA(13) + 0xffd
  beq t5, t6, 3f
  li t6, WVA(14)
  bltu t5, t6, skiff_fail
  li t6, WVA(13) + 0xffd + 4
  bgeu t5, t6, skiff_fail
3:

  /* ---- code written through one mapping, run through another (FENCE.I) ---- */
  SET_TEST_PTE(15, smc_page, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
  SET_TEST_PTE(16, smc_page, PTE_V | PTE_X | PTE_A)
  li gp, 87
  li s5, 0                         /* round */
  li s6, 5
  GOTO_MODE(MPP_S)
4: li t0, WVA(15)
  slli t1, s5, 20
  li t2, 0x00000513                /* addi a0, x0, round */
  or t1, t1, t2
  sw t1, 0(t0)
  li t2, 0x00008067                /* ret */
  sw t2, 4(t0)
  fence.i
  li t0, WVA(16)
  li a0, -1
  jalr ra, 0(t0)
  bne a0, s5, skiff_fail
  addi s5, s5, 1
  bne s5, s6, 4b
  GOTO_M

  /* ---- Bare again ---- */
  li gp, 90
  csrw satp, x0
  sfence.vma
  GOTO_MODE(MPP_S)
  la t0, page_b
  lw t1, 0(t0)
  GOTO_M
  FAIL_IF_NE(t1, 0xbbbb0000)

TEST_END

/* S code in a page of its own (s_ret42 at its start), reachable through window PTEs */
  .balign 4096
s_code_page:
s_ret42:
  li a0, 42
  ret
  .balign 4096

/* rewritten at run time by test 87 */
  .balign 4096
smc_page:
  .word 0, 0
  .balign 4096

USER_CODE_BEGIN
u_code_page:                       /* u_ret7 at the start of the page */
u_ret7:
  li a0, 7
  ret
u_load:
  lw t1, 0(t0)
  USER_RETURN
u_store:
  sw t1, 0(t0)
  USER_RETURN
u_call:
  mv s1, ra
  jalr ra, 0(t0)
  mv ra, s1
  USER_RETURN
USER_CODE_END

  .data
  .balign 4096
page_a:
  .space 4096
page_b:
  .space 4096

SV32_DATA
