/* External interrupts through the PLIC, with the UART's transmitter-holding-register-empty
 * interrupt (IER.ETBEI, PLIC source 10) as the device line, and the interrupt priority order:
 *  - PLIC: source priority, per-context enables, threshold (a source interrupts only with a
 *    priority above it), priority 0 never interrupts, pending bits, claim returns the source (0
 *    when nothing is pending), completion
 *  - MEI through context 0: MEIP in mip, gated by mie.MEIE and mstatus.MIE in M, taken in S and U
 *    regardless of MIE
 *  - SEI through context 1: SEIP in mip and, delegated, in sip; delegated it is taken in S with
 *    SIE, in U regardless, never in M; not delegated it goes to M (also from S with MIE = 0)
 *  - mip.SEIP reads as the OR of a bit M-mode writes and the PLIC's line, and CSRRS/CSRRC on mip
 *    modify only the software bit (Privileged spec §3.1.9); a software SEIP is delivered like
 *    the line
 *  - priority MEI > MSI > MTI > SEI > SSI > STI with all six pending in M (§3.1.9), SEI > SSI > STI
 *    in S, and an M-level interrupt before an S-level one in S.
 * The interrupt handlers claim, switch the UART's interrupt off and complete, in that order. */
#define SKIFF_VIRT
#include "skiff_test.h"

#define UART_IRQ_ON li t5, UART_IER; li t6, 2; sb t6, 0(t5)
#define UART_IRQ_OFF li t5, UART_IER; sb zero, 0(t5)
#define PLIC_SET(addr, v) li t5, addr; li t6, v; sw t6, 0(t5)
#define PLIC_PRIO(v) PLIC_SET(PLIC_PRIORITY + 4 * UART_IRQ, v)
#define PLIC_EN(ctx, v) PLIC_SET(PLIC_ENABLE + 0x80 * (ctx), v)
#define PLIC_THR(ctx, v) PLIC_SET(PLIC_THRESHOLD + 0x1000 * (ctx), v)
#define PLIC_CLAIM_ADDR(ctx) (PLIC_THRESHOLD + 0x1000 * (ctx) + 4)
/* Claim on ctx (must give `id`), switch the UART's interrupt off, complete. */
#define PLIC_SERVICE(ctx, id)                                                                   \
  li t5, PLIC_CLAIM_ADDR(ctx); lw t4, 0(t5); FAIL_IF_NE(t4, id); UART_IRQ_OFF;                  \
  li t5, PLIC_CLAIM_ADDR(ctx); sw t4, 0(t5)
/* The UART's bit in the PLIC pending word must read `v` (0 or 1). */
#define CHECK_PENDING(v)                                                                        \
  li t5, PLIC_PENDING; lw t5, 0(t5); srli t5, t5, UART_IRQ; andi t5, t5, 1; FAIL_IF_NE(t5, v)
/* Wait (bounded) until (mip & mask) == value. Clobbers t3, t4. */
#define WAIT_MIP(mask, value)                                                                   \
  li t3, 1000; 91: csrr t4, mip; li t6, mask; and t4, t4, t6; li t6, value; beq t4, t6, 92f;   \
  addi t3, t3, -1; bnez t3, 91b; j skiff_fail; 92:
#define SPIN li t3, 1000; 91: addi t3, t3, -1; bnez t3, 91b
/* Spin until int_count reaches n, failing after one second of mtime. Clobbers t3, t4. */
#define WAIT_INTS(n)                                                                            \
  li t3, CLINT_MTIME; lw t3, 0(t3);                                                            \
  91: la t4, int_count; lw t4, 0(t4); li t6, n; bge t4, t6, 92f;                               \
  li t4, CLINT_MTIME; lw t4, 0(t4); sub t4, t4, t3; li t6, 10000000; bltu t4, t6, 91b;         \
  j skiff_fail; 92:
#define RESET_INTS                                                                              \
  la t5, int_count; sw zero, 0(t5); la t5, int_log_ptr; la t6, int_log; sw t6, 0(t5);          \
  la t5, claim_log_ptr; la t6, claim_log; sw t6, 0(t5)
#define CHECK_LOG(i, cause) la t5, int_log; lw t5, 4 * (i)(t5); FAIL_IF_NE(t5, cause)
#define CHECK_CLAIM(i, id) la t5, claim_log; lw t5, 4 * (i)(t5); FAIL_IF_NE(t5, id)
#define SET_MSIP(v) li t5, CLINT_MSIP; li t6, v; sw t6, 0(t5)
#define ALL_IRQS (MIP_MEIP | MIP_MSIP | MIP_MTIP | MIP_SEIP | MIP_SSIP | MIP_STIP)

TEST_BEGIN
  SET_MHOOK(int_mhook)
  SET_SHOOK(int_shook)
  UART_IRQ_OFF

  /* ---- PLIC registers ---- */
  li gp, 2
  PLIC_PRIO(1)
  li t0, PLIC_PRIORITY + 4 * UART_IRQ
  lw t1, 0(t0)
  FAIL_IF_NE(t1, 1)
  PLIC_EN(PLIC_CTX_M, 1 << UART_IRQ)
  PLIC_EN(PLIC_CTX_S, 0)
  li t0, PLIC_ENABLE + 0x80 * PLIC_CTX_M
  lw t1, 0(t0)
  FAIL_IF_NE(t1, 1 << UART_IRQ)
  PLIC_THR(PLIC_CTX_M, 0)
  PLIC_THR(PLIC_CTX_S, 0)
  li gp, 3                        /* nothing pending: claim returns 0 */
  CHECK_PENDING(0)
  li t0, PLIC_CLAIM_ADDR(PLIC_CTX_M)
  lw t1, 0(t0)
  FAIL_IF_NE(t1, 0)

  /* ---- machine external interrupt (context 0) ---- */
  li gp, 4                        /* the line sets MEIP; not taken without MIE and MEIE */
  RESET_INTS
  csrw mie, x0
  UART_IRQ_ON
  WAIT_MIP(MIP_MEIP, MIP_MEIP)
  CHECK_PENDING(1)
  csrsi mstatus, MSTATUS_MIE      /* MIE alone */
  SPIN
  csrci mstatus, MSTATUS_MIE
  li t0, MIP_MEIP
  csrs mie, t0                    /* MEIE alone */
  SPIN
  CHECK_WORD(int_count, 0)
  li gp, 5                        /* both: taken in M, the claim gives the UART */
  csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG(0, CAUSE_INTR | IRQ_MEI)
  CHECK_CLAIM(0, UART_IRQ)
  CHECK_HANDLER(PRV_M)
  CHECK_STATUS(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MPP_M)
  li gp, 6                        /* completed with the line low: MEIP gone, nothing pending */
  WAIT_MIP(MIP_MEIP, 0)
  CHECK_PENDING(0)
  CHECK_WORD(int_count, 1)
  li gp, 7                        /* threshold = priority: no interrupt, the request stays pending */
  RESET_INTS
  PLIC_THR(PLIC_CTX_M, 1)
  UART_IRQ_ON
  csrsi mstatus, MSTATUS_MIE
  SPIN
  csrci mstatus, MSTATUS_MIE
  CHECK_WORD(int_count, 0)
  csrr t1, mip
  li t2, MIP_MEIP
  and t1, t1, t2
  bnez t1, skiff_fail
  CHECK_PENDING(1)
  li gp, 8                        /* threshold below the priority: taken */
  PLIC_THR(PLIC_CTX_M, 0)
  csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG(0, CAUSE_INTR | IRQ_MEI)
  CHECK_CLAIM(0, UART_IRQ)
  li gp, 9                        /* priority 0: never */
  RESET_INTS
  PLIC_PRIO(0)
  UART_IRQ_ON
  csrsi mstatus, MSTATUS_MIE
  SPIN
  csrci mstatus, MSTATUS_MIE
  CHECK_WORD(int_count, 0)
  li gp, 10                       /* priority 1 again: taken */
  PLIC_PRIO(1)
  csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG(0, CAUSE_INTR | IRQ_MEI)
  li gp, 11                       /* not enabled for the context: nothing; enabled: taken */
  RESET_INTS
  PLIC_EN(PLIC_CTX_M, 0)
  UART_IRQ_ON
  csrsi mstatus, MSTATUS_MIE
  SPIN
  csrci mstatus, MSTATUS_MIE
  CHECK_WORD(int_count, 0)
  PLIC_EN(PLIC_CTX_M, 1 << UART_IRQ)
  IF_QEMU(1f)
  j 2f
1: PLIC_THR(PLIC_CTX_M, 0)        /* QEMU 7.2 doesn't re-evaluate its outputs on enable writes */
2: csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_LOG(0, CAUSE_INTR | IRQ_MEI)
  li gp, 12                       /* in U and S: taken whatever mstatus.MIE says */
  RESET_INTS
  UART_IRQ_ON
  GOTO_MODE(MPP_U)
  WAIT_INTS(1)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_MEI)
  li gp, 13
  RESET_INTS
  UART_IRQ_ON
  GOTO_MODE(MPP_S)
  WAIT_INTS(1)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_MEI)
  CHECK_CLAIM(0, UART_IRQ)
  csrw mie, x0

  /* ---- supervisor external interrupt (context 1) ---- */
  li gp, 20                       /* the line sets SEIP in mip and, delegated, in sip */
  RESET_INTS
  PLIC_EN(PLIC_CTX_M, 0)
  PLIC_EN(PLIC_CTX_S, 1 << UART_IRQ)
  li t0, MIP_SEIP
  csrs mideleg, t0
  csrs mie, t0
  UART_IRQ_ON
  WAIT_MIP(MIP_SEIP | MIP_MEIP, MIP_SEIP)
  csrr t1, sip
  li t2, MIP_SEIP
  and t1, t1, t2
  FAIL_IF_NE(t1, MIP_SEIP)
  li gp, 21                       /* delegated: never taken in M */
  csrsi mstatus, MSTATUS_SIE | MSTATUS_MIE
  SPIN
  csrci mstatus, MSTATUS_SIE | MSTATUS_MIE
  CHECK_WORD(int_count, 0)
  li gp, 22                       /* in S: not with SIE = 0, taken in S with SIE = 1 */
  GOTO_MODE(MPP_S)
  SPIN
  CHECK_WORD(int_count, 0)
  csrsi sstatus, MSTATUS_SIE
  WAIT_INTS(1)
  csrci sstatus, MSTATUS_SIE
  CHECK_HANDLER(PRV_S)
  CHECK_PRIV(PRV_S)
  CHECK_STATUS(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE | MSTATUS_SPP)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_SEI)
  CHECK_CLAIM(0, UART_IRQ)
  li gp, 23                       /* in U: taken in S whatever SIE says */
  RESET_INTS
  UART_IRQ_ON
  GOTO_MODE(MPP_U)
  WAIT_INTS(1)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_SEI)
  CHECK_CLAIM(0, UART_IRQ)
  li gp, 24                       /* not delegated: taken in M */
  RESET_INTS
  li t0, MIP_SEIP
  csrc mideleg, t0
  UART_IRQ_ON
  csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(1)
  csrci mstatus, MSTATUS_MIE
  CHECK_HANDLER(PRV_M)
  CHECK_LOG(0, CAUSE_INTR | IRQ_SEI)
  CHECK_CLAIM(0, UART_IRQ)
  li gp, 25                       /* not delegated, from S: to M, MIE = 0 notwithstanding */
  RESET_INTS
  UART_IRQ_ON
  GOTO_MODE(MPP_S)
  WAIT_INTS(1)
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_SEI)
  CHECK_CLAIM(0, UART_IRQ)
  csrw mie, x0

  /* ---- mip.SEIP: M's software bit OR the PLIC's line ---- */
  li gp, 30                       /* M sets and clears the software bit */
  li t0, MIP_SEIP
  csrs mip, t0
  csrr t1, mip
  and t1, t1, t0
  FAIL_IF_NE(t1, MIP_SEIP)
  csrc mip, t0
  csrr t1, mip
  and t1, t1, t0
  bnez t1, skiff_fail
  li gp, 31                       /* read-modify-writes while the line is high don't latch it */
  UART_IRQ_ON
  WAIT_MIP(MIP_SEIP, MIP_SEIP)
  csrsi mip, MIP_SSIP
  csrci mip, MIP_SSIP
  li t0, MIP_STIP
  csrs mip, t0
  csrc mip, t0
  PLIC_SERVICE(PLIC_CTX_S, UART_IRQ)
  WAIT_MIP(MIP_SEIP, 0)
  li t0, MIP_SEIP
  csrc mip, t0
  li gp, 32                       /* a set software bit survives the line going high and low */
  li t0, MIP_SEIP
  csrs mip, t0
  UART_IRQ_ON
  SPIN
  PLIC_SERVICE(PLIC_CTX_S, UART_IRQ)
  SPIN
  csrr t1, mip
  li t0, MIP_SEIP
  and t1, t1, t0
  FAIL_IF_NE(t1, MIP_SEIP)
  csrc mip, t0
  csrr t1, mip
  and t1, t1, t0
  bnez t1, skiff_fail
  li gp, 33                       /* a software SEIP is taken like the line (delegated, in S) */
  RESET_INTS
  PLIC_EN(PLIC_CTX_S, 0)
  li t0, MIP_SEIP
  csrs mideleg, t0
  csrs mie, t0
  csrs mip, t0
  GOTO_MODE(MPP_S)
  csrsi sstatus, MSTATUS_SIE
  WAIT_INTS(1)                    /* the S hook finds no claim and masks sie.SEIE */
  csrci sstatus, MSTATUS_SIE
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_SEI)
  CHECK_CLAIM(0, 0)
  li t0, MIP_SEIP
  csrc mip, t0
  csrw mideleg, x0
  csrw mie, x0

  /* ---- priority ---- */
  li gp, 40                       /* all six pending in M: MEI MSI MTI SEI SSI STI */
  csrci mstatus, MSTATUS_MIE      /* GOTO_M may have left it set */
  RESET_INTS
  PLIC_EN(PLIC_CTX_M, 1 << UART_IRQ)
  UART_IRQ_ON                     /* MEI */
  SET_MSIP(1)                     /* MSI */
  li t5, CLINT_MTIMECMP
  sw zero, 4(t5)
  sw zero, 0(t5)                  /* MTI */
  li t0, MIP_SEIP | MIP_SSIP | MIP_STIP
  csrs mip, t0                    /* SEI (software bit), SSI, STI: not delegated */
  li t0, ALL_IRQS
  WAIT_MIP(ALL_IRQS, ALL_IRQS)
  csrw mie, t0
  csrsi mstatus, MSTATUS_MIE
  WAIT_INTS(6)
  csrci mstatus, MSTATUS_MIE
  CHECK_WORD(int_count, 6)
  IF_QEMU(1f)                     /* QEMU 7.2 takes them in interrupt-number order */
  CHECK_LOG(0, CAUSE_INTR | IRQ_MEI)
  CHECK_LOG(1, CAUSE_INTR | IRQ_MSI)
  CHECK_LOG(2, CAUSE_INTR | IRQ_MTI)
  CHECK_LOG(3, CAUSE_INTR | IRQ_SEI)
  CHECK_LOG(4, CAUSE_INTR | IRQ_SSI)
  CHECK_LOG(5, CAUSE_INTR | IRQ_STI)
  j 2f
1: la t0, int_log                 /* all six, once each: the causes sum up */
  li t1, 0
  li t2, 6
3: lw t3, 0(t0)
  add t1, t1, t3
  addi t0, t0, 4
  addi t2, t2, -1
  bnez t2, 3b
  FAIL_IF_NE(t1, 36)              /* 11 + 3 + 7 + 9 + 1 + 5, the interrupt bits wrapping to zero */
2: csrw mie, x0
  li gp, 41                       /* S-level, delegated, in S: SEI SSI STI */
  RESET_INTS
  li t0, MIP_SEIP | MIP_SSIP | MIP_STIP
  csrw mideleg, t0
  csrw mie, t0
  csrs mip, t0
  GOTO_MODE(MPP_S)
  csrsi sstatus, MSTATUS_SIE
  WAIT_INTS(3)
  csrci sstatus, MSTATUS_SIE
  GOTO_M
  IF_QEMU(1f)                     /* as above */
  CHECK_LOG(0, CAUSE_INTR | IRQ_SEI)
  CHECK_LOG(1, CAUSE_INTR | IRQ_SSI)
  CHECK_LOG(2, CAUSE_INTR | IRQ_STI)
  j 2f
1: la t0, int_log
  lw t1, 0(t0)
  lw t2, 4(t0)
  add t1, t1, t2
  lw t2, 8(t0)
  add t1, t1, t2
  FAIL_IF_NE(t1, 0x8000000f)      /* 9 + 1 + 5 and three interrupt bits */
2: li t0, MIP_SEIP | MIP_STIP      /* the S hook masked them: M clears the bits */
  csrc mip, t0
  csrw mideleg, x0
  csrw mie, x0
  li gp, 42                       /* in S, an M-level interrupt before an S-level one */
  csrci mstatus, MSTATUS_MIE      /* GOTO_M may have left it set */
  RESET_INTS
  csrwi mideleg, MIP_SSIP
  li t0, MIP_SSIP | MIP_MSIP
  csrw mie, t0
  csrsi mip, MIP_SSIP
  SET_MSIP(1)
  WAIT_MIP(MIP_SSIP | MIP_MSIP, MIP_SSIP | MIP_MSIP)
  GOTO_MODE(MPP_S)
  csrsi sstatus, MSTATUS_SIE
  WAIT_INTS(2)
  csrci sstatus, MSTATUS_SIE
  GOTO_M
  CHECK_LOG(0, CAUSE_INTR | IRQ_MSI)
  CHECK_LOG(1, CAUSE_INTR | IRQ_SSI)
  csrw mideleg, x0
  csrw mie, x0

  UART_IRQ_OFF
  PLIC_EN(PLIC_CTX_M, 0)
  PLIC_EN(PLIC_CTX_S, 0)
  PLIC_PRIO(0)
  CLEAR_MHOOK
  CLEAR_SHOOK
TEST_END

/* Appends t0 (cause) to int_log and counts it. Clobbers t2, a0. */
#define LOG_CAUSE                                                                               \
  la t2, int_log_ptr; lw a0, 0(t2); sw t0, 0(a0); addi a0, a0, 4; sw a0, 0(t2);                \
  la t2, int_count; lw a0, 0(t2); addi a0, a0, 1; sw a0, 0(t2)
/* Claims on ctx into a0 and appends it to claim_log; a source gets its line lowered and is
 * completed. Clobbers t1, t2. */
#define CLAIM_SERVICE(ctx)                                                                      \
  li t2, PLIC_CLAIM_ADDR(ctx); lw a0, 0(t2);                                                   \
  la t1, claim_log_ptr; lw t2, 0(t1); sw a0, 0(t2); addi t2, t2, 4; sw t2, 0(t1);              \
  beqz a0, 93f; li t1, UART_IER; sb zero, 0(t1); li t2, PLIC_CLAIM_ADDR(ctx); sw a0, 0(t2); 93:

/* M hook: interrupts are logged and their source cleared, then execution resumes where it was
 * interrupted; exceptions get the default handling. */
int_mhook:
  bgez t0, skiff_mtrap_nohook
  LOG_CAUSE
  li t2, CAUSE_INTR | IRQ_MEI
  bne t0, t2, 1f
  CLAIM_SERVICE(PLIC_CTX_M)
  j 9f
1: li t2, CAUSE_INTR | IRQ_MSI
  bne t0, t2, 2f
  li t2, CLINT_MSIP
  sw zero, 0(t2)
  j 9f
2: li t2, CAUSE_INTR | IRQ_MTI
  bne t0, t2, 3f
  li t2, CLINT_MTIMECMP
  li a0, -1
  sw a0, 4(t2)
  sw a0, 0(t2)
  j 9f
3: li t2, CAUSE_INTR | IRQ_SEI
  bne t0, t2, 4f
  li t2, MIP_SEIP                 /* the software bit, then whatever the PLIC has */
  csrc mip, t2
  CLAIM_SERVICE(PLIC_CTX_S)
  j 9f
4: li t2, CAUSE_INTR | IRQ_SSI
  bne t0, t2, 5f
  csrci mip, MIP_SSIP
  j 9f
5: li t2, CAUSE_INTR | IRQ_STI
  bne t0, t2, skiff_unexpected
  li t2, MIP_STIP
  csrc mip, t2
9: j skiff_mtrap_ret

/* S hook: SEI claims on context 1 (nothing to claim: a software SEIP, M's to clear, so mask
 * sie.SEIE), SSI clears sip.SSIP, STI masks sie.STIE. */
int_shook:
  bgez t0, skiff_strap_nohook
  LOG_CAUSE
  li t2, CAUSE_INTR | IRQ_SEI
  bne t0, t2, 1f
  CLAIM_SERVICE(PLIC_CTX_S)
  bnez a0, 9f
  li t2, MIP_SEIP
  csrc sie, t2
  j 9f
1: li t2, CAUSE_INTR | IRQ_SSI
  bne t0, t2, 2f
  csrci sip, MIP_SSIP
  j 9f
2: li t2, CAUSE_INTR | IRQ_STI
  bne t0, t2, skiff_unexpected
  li t2, MIP_STIP
  csrc sie, t2
9: j skiff_strap_ret

  .data
  .balign 4
int_count: .word 0
int_log_ptr: .word int_log
int_log: .fill 16, 4, 0
claim_log_ptr: .word claim_log
claim_log: .fill 16, 4, 0
