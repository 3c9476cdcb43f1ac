/* Interrupts through the CLINT and mip:
 *  - machine software interrupt (CLINT msip at 0x02000000): pending in mip.MSIP, taken when
 *    mie.MSIE and mstatus.MIE, not when either is clear; mcause = 0x80000003, MIE/MPIE/MPP on entry
 *  - M interrupts are taken in S and U regardless of mstatus.MIE
 *  - machine timer (mtimecmp 0x02004000, mtime 0x0200BFF8): MTIP follows mtime >= mtimecmp,
 *    mtime advances, the interrupt fires, WFI wakes up with mepc = the instruction after WFI
 *  - priority MSI > MTI > SSI > STI when several are pending
 *  - supervisor software interrupt via mip.SSIP: taken in M when not delegated; delegated with
 *    mideleg it goes to stvec in S (sstatus.SIE) and in U (regardless of SIE), never in M
 *  - supervisor timer interrupt via mip.STIP, delegated
 *  - vectored mtvec/stvec: interrupts at BASE + 4 * cause, exceptions at BASE. */
#include "skiff_test.h"

/* Spin until int_count reaches n, failing after one second of mtime. Clobbers t3, t4. */
#define WAIT_INTS(n)                                                                            \
  li t3, CLINT_MTIME; lw t3, 0(t3);                                                            \
  91: la t4, int_count; lw t4, 0(t4); li t6, n; bge t4, t6, 92f;                               \
  li t4, CLINT_MTIME; lw t4, 0(t4); sub t4, t4, t3; li t6, 10000000; bltu t4, t6, 91b;         \
  j skiff_fail; 92:
#define RESET_INTS la t5, int_count; sw zero, 0(t5); la t5, int_log_ptr; la t6, int_log; sw t6, 0(t5)
#define CHECK_LOG(i, cause) la t5, int_log; lw t5, 4 * (i)(t5); FAIL_IF_NE(t5, cause)
#define SET_MSIP(v) li t5, CLINT_MSIP; li t6, v; sw t6, 0(t5)
#define DISARM_TIMER li t5, CLINT_MTIMECMP; li t6, -1; sw t6, 4(t5); sw t6, 0(t5)
/* mtimecmp = mtime + delta (writes high word first so it never passes through a small value) */
#define ARM_TIMER(delta)                                                                        \
  DISARM_TIMER; li t5, CLINT_MTIME; 93: lw t4, 4(t5); lw t3, 0(t5); lw t6, 4(t5);              \
  bne t4, t6, 93b; li t6, delta; add t6, t3, t6; sltu t3, t6, t3; add t4, t4, t3;              \
  li t5, CLINT_MTIMECMP; sw t6, 0(t5); sw t4, 4(t5)

TEST_BEGIN
  SET_MHOOK(int_mhook)
  SET_SHOOK(int_shook)

  /* ---- MSIP: pending bit without enables ---- */
  li gp, 2
  RESET_INTS
  csrw mie, x0
  SET_MSIP(1)
  li t0, 1000                     /* the CLINT write reaches mip within a bounded time */
1: csrr t1, mip
  andi t1, t1, MIP_MSIP
  bnez t1, 2f
  addi t0, t0, -1
  bnez t0, 1b
  j skiff_fail
2: csrsi mstatus, MSTATUS_MIE      /* MIE alone: not taken (mie.MSIE = 0) */
  li t0, 1000
3: addi t0, t0, -1
  bnez t0, 3b
  csrci mstatus, MSTATUS_MIE
  csrsi mie, MIP_MSIP             /* MSIE alone: not taken (MIE = 0 in M) */
  li t0, 1000
3: addi t0, t0, -1
  bnez t0, 3b
  CHECK_WORD(int_count, 0)
  li gp, 3                        /* both: taken */
  csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG(0, CAUSE_INTR | IRQ_MSI)
  CHECK_HANDLER(PRV_M)
  CHECK_PRIV(PRV_M)
  CHECK_STATUS(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MPP_M)
  CHECK_WORD(int_count, 1)        /* the hook cleared msip: exactly one */
  li gp, 4
  csrr t1, mip
  andi t1, t1, MIP_MSIP
  bnez t1, skiff_fail
  /* ---- M interrupt in U and S with MIE = 0 ---- */
  li gp, 5
  RESET_INTS
  SET_MSIP(1)
  GOTO_MODE(MPP_U)
  WAIT_INTS(1)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_MSI)
  li gp, 6
  RESET_INTS
  SET_MSIP(1)
  GOTO_MODE(MPP_S)
  WAIT_INTS(1)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_MSI)
  csrw mie, x0

  /* ---- timer ---- */
  li gp, 10                       /* mtime advances */
  li t5, CLINT_MTIME
  lw t0, 0(t5)
  li t1, 100000
1: lw t2, 0(t5)
  bne t2, t0, 2f
  addi t1, t1, -1
  bnez t1, 1b
  j skiff_fail
2: li gp, 11                      /* MTIP follows mtimecmp */
  li t5, CLINT_MTIMECMP
  sw zero, 4(t5)
  sw zero, 0(t5)                  /* mtimecmp = 0 <= mtime */
  li t0, 1000
1: csrr t1, mip
  andi t1, t1, MIP_MTIP
  bnez t1, 2f
  addi t0, t0, -1
  bnez t0, 1b
  j skiff_fail
2: DISARM_TIMER
  li t0, 1000
1: csrr t1, mip
  andi t1, t1, MIP_MTIP
  beqz t1, 2f
  addi t0, t0, -1
  bnez t0, 1b
  j skiff_fail
2: li gp, 12                      /* the interrupt fires */
  RESET_INTS
  li t0, MIP_MTIP
  csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
  ARM_TIMER(200)
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG(0, CAUSE_INTR | IRQ_MTI)
  li gp, 13                       /* WFI wakes up and the trap's mepc is the next instruction */
  RESET_INTS
  ARM_TIMER(10000)                /* 1 ms: far more than the two instructions before WFI */
  csrsi mstatus, MSTATUS_MIE
1: wfi
2: csrci mstatus, MSTATUS_MIE
  la t5, int_count                /* a spurious wake-up is allowed: go back to sleep */
  lw t5, 0(t5)
  beqz t5, 3f
  CHECK_LOG(0, CAUSE_INTR | IRQ_MTI)
  CHECK_EPC(2b)
  j 4f
3: csrsi mstatus, MSTATUS_MIE
  j 1b
4: li gp, 14                      /* WFI with MIE = 0 wakes up without taking the trap */
  RESET_INTS
  ARM_TIMER(300)
1: wfi
  csrr t1, mip
  andi t1, t1, MIP_MTIP
  beqz t1, 1b                     /* spurious wake-up: sleep again */
  CHECK_WORD(int_count, 0)
  DISARM_TIMER
  csrw mie, x0

  /* ---- priority: everything pending at once, then MIE set ---- */
  li gp, 20
  RESET_INTS
  li t5, CLINT_MTIMECMP
  sw zero, 4(t5)
  sw zero, 0(t5)                  /* MTIP */
  SET_MSIP(1)                     /* MSIP */
  li t0, MIP_SSIP | MIP_STIP
  csrs mip, t0                    /* SSIP, STIP (not delegated: handled in M) */
  li t0, MIP_MSIP | MIP_MTIP | MIP_SSIP | MIP_STIP
  li t1, 1000                     /* let the CLINT writes land */
1: csrr t2, mip
  and t2, t2, t0
  beq t2, t0, 2f
  addi t1, t1, -1
  bnez t1, 1b
  j skiff_fail
2: csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(4)
  csrci mstatus, MSTATUS_MIE
  CHECK_WORD(int_count, 4)
  IF_QEMU(3f)                     /* QEMU 7.2 takes them in interrupt-number order */
  CHECK_LOG(0, CAUSE_INTR | IRQ_MSI)
  CHECK_LOG(1, CAUSE_INTR | IRQ_MTI)
  CHECK_LOG(2, CAUSE_INTR | IRQ_SSI)
  CHECK_LOG(3, CAUSE_INTR | IRQ_STI)
  j 4f
3: la t0, int_log                 /* all four, once each: the causes sum up */
  lw t1, 0(t0)
  lw t2, 4(t0)
  add t1, t1, t2
  lw t2, 8(t0)
  add t1, t1, t2
  lw t2, 12(t0)
  add t1, t1, t2
  FAIL_IF_NE(t1, 16)              /* 3 + 7 + 1 + 5 with the interrupt bits wrapping to zero */
4:
  csrw mie, x0

  /* ---- delegated supervisor software interrupt ---- */
  li gp, 30                       /* in S with SIE = 1 */
  RESET_INTS
  csrsi mideleg, MIP_SSIP
  csrsi mie, MIP_SSIP
  csrsi mstatus, MSTATUS_MIE      /* M-mode enables don't matter for a delegated interrupt */
  GOTO_MODE(MPP_S)
  csrsi sstatus, MSTATUS_SIE
  csrsi sip, MIP_SSIP
  WAIT_INTS(1)
  csrci sstatus, MSTATUS_SIE
  CHECK_HANDLER(PRV_S)
  CHECK_LOG(0, CAUSE_INTR | IRQ_SSI)
  CHECK_PRIV(PRV_S)
  CHECK_STATUS(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE | MSTATUS_SPP)
  li gp, 31                       /* in S with SIE = 0: not taken */
  RESET_INTS
  csrsi sip, MIP_SSIP
  li t0, 1000
1: addi t0, t0, -1
  bnez t0, 1b
  CHECK_WORD(int_count, 0)
  li gp, 32                       /* in U: taken whatever SIE says */
  SRET_TO_U
  WAIT_INTS(1)
  CHECK_HANDLER(PRV_S)
  CHECK_PRIV(PRV_U)
  GOTO_M
  li gp, 33                       /* in M: a delegated interrupt is never taken */
  RESET_INTS
  csrsi mip, MIP_SSIP
  csrsi mstatus, MSTATUS_SIE | MSTATUS_MIE
  li t0, 1000
1: addi t0, t0, -1
  bnez t0, 1b
  CHECK_WORD(int_count, 0)
  csrci mstatus, MSTATUS_SIE | MSTATUS_MIE
  csrci mip, MIP_SSIP
  li gp, 34                       /* sie.SSIE = 0: not taken in U either */
  csrci mie, MIP_SSIP
  csrsi mip, MIP_SSIP
  GOTO_MODE(MPP_U)
  li t0, 1000
1: addi t0, t0, -1
  bnez t0, 1b
  GOTO_M
  CHECK_WORD(int_count, 0)
  csrci mip, MIP_SSIP

  /* ---- delegated supervisor timer interrupt (STIP written by M) ---- */
  li gp, 40
  RESET_INTS
  li t0, MIP_STIP
  csrs mideleg, t0
  csrs mie, t0
  GOTO_MODE(MPP_S)
  csrsi sstatus, MSTATUS_SIE
  GOTO_M
  li t0, MIP_STIP
  csrs mip, t0                    /* M raises the S timer */
  GOTO_MODE(MPP_S)
  WAIT_INTS(1)                    /* the S hook masks sie.STIE */
  csrci sstatus, MSTATUS_SIE
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_STI)
  li t0, MIP_STIP
  csrc mip, t0
  csrw mideleg, x0
  csrw mie, x0

  /* ---- not delegated SSI from S goes to M even with MIE = 0 ---- */
  li gp, 45
  RESET_INTS
  csrci mstatus, MSTATUS_MIE
  csrsi mie, MIP_SSIP
  csrsi mip, MIP_SSIP
  GOTO_MODE(MPP_S)
  WAIT_INTS(1)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_SSI)
  csrw mie, x0

  /* ---- vectored mode ---- */
  li gp, 50
  RESET_INTS
  la t0, mvec_table
  ori t0, t0, 1
  csrw mtvec, t0
  csrsi mie, MIP_MSIP
  csrsi mstatus, MSTATUS_MIE
  SET_MSIP(1)
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_WORD(vec_entry, 3)        /* BASE + 4 * 3 */
  li gp, 51                       /* an exception uses BASE */
  li a7, 0
  EXPECT_TRAP(1f)
  ecall
  j skiff_fail
1: CHECK_WORD(vec_entry, 0)
  CHECK_CAUSE(CAUSE_ECALL_M)
  li gp, 52                       /* timer at BASE + 4 * 7 */
  RESET_INTS
  li t0, MIP_MTIP
  csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
  ARM_TIMER(100)
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_WORD(vec_entry, 7)
  la t0, skiff_mtrap
  csrw mtvec, t0
  csrw mie, x0
  li gp, 53                       /* stvec vectored: SSI at BASE + 4 */
  RESET_INTS
  la t0, svec_table
  ori t0, t0, 1
  csrw stvec, t0
  csrsi mideleg, MIP_SSIP
  csrsi mie, MIP_SSIP
  csrsi mip, MIP_SSIP
  GOTO_MODE(MPP_U)
  WAIT_INTS(1)
  GOTO_M
  CHECK_WORD(vec_entry, 0x101)
  la t0, skiff_strap
  csrw stvec, t0
  csrw mideleg, x0
  csrw mie, x0

  CLEAR_MHOOK
  CLEAR_SHOOK
TEST_END

/* M hook: interrupts are logged and their source cleared, then execution resumes where it was
 * interrupted; exceptions get the default handling. */
int_mhook:
  bgez t0, skiff_mtrap_nohook
  la t2, int_log_ptr
  lw a0, 0(t2)
  sw t0, 0(a0)
  addi a0, a0, 4
  sw a0, 0(t2)
  la t2, int_count
  lw a0, 0(t2)
  addi a0, a0, 1
  sw a0, 0(t2)
  li t2, CAUSE_INTR | IRQ_MSI
  bne t0, t2, 1f
  li t2, CLINT_MSIP
  sw zero, 0(t2)
  j 9f
1: li t2, CAUSE_INTR | IRQ_MTI
  bne t0, t2, 2f
  li t2, CLINT_MTIMECMP
  li a0, -1
  sw a0, 4(t2)
  sw a0, 0(t2)
  j 9f
2: li t2, CAUSE_INTR | IRQ_SSI
  bne t0, t2, 3f
  csrci mip, MIP_SSIP
  j 9f
3: li t2, CAUSE_INTR | IRQ_STI
  bne t0, t2, skiff_unexpected
  li t2, MIP_STIP
  csrc mip, t2
9: j skiff_mtrap_ret

/* S hook: SSI clears sip.SSIP, STI masks sie.STIE (STIP is M's to clear). */
int_shook:
  bgez t0, skiff_strap_nohook
  la t2, int_log_ptr
  lw a0, 0(t2)
  sw t0, 0(a0)
  addi a0, a0, 4
  sw a0, 0(t2)
  la t2, int_count
  lw a0, 0(t2)
  addi a0, a0, 1
  sw a0, 0(t2)
  li t2, CAUSE_INTR | IRQ_SSI
  bne t0, t2, 1f
  csrci sip, MIP_SSIP
  j 9f
1: li t2, CAUSE_INTR | IRQ_STI
  bne t0, t2, skiff_unexpected
  li t2, MIP_STIP
  csrc sie, t2
9: j skiff_strap_ret

/* Vector tables: each slot notes which one ran in vec_entry (slot, or 0x100 + slot for stvec),
 * then joins the common handler with every register intact. */
  .balign 256
mvec_table:
  .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
  j mvec_stub_\n
  .endr
  .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
mvec_stub_\n:
  csrrw sp, mscratch, sp
  sw t0, -20(sp)
  sw t1, -24(sp)
  li t0, \n
  la t1, vec_entry
  sw t0, 0(t1)
  lw t1, -24(sp)
  lw t0, -20(sp)
  csrrw sp, mscratch, sp
  j skiff_mtrap
  .endr

  .balign 256
svec_table:
  .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
  j svec_stub_\n
  .endr
  .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
svec_stub_\n:
  csrrw sp, sscratch, sp
  sw t0, -20(sp)
  sw t1, -24(sp)
  li t0, 0x100 + \n
  la t1, vec_entry
  sw t0, 0(t1)
  lw t1, -24(sp)
  lw t0, -20(sp)
  csrrw sp, sscratch, sp
  j skiff_strap
  .endr

  .data
  .balign 16
int_count: .word 0
vec_entry: .word 0xffffffff
int_log_ptr: .word int_log
int_log: .fill 16, 4, 0
