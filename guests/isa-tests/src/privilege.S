/* Privilege transitions: trap entry into M (MPIE <- MIE, MIE <- 0, MPP <- old mode), MRET (mode <-
 * MPP, MIE <- MPIE, MPIE <- 1, MPP <- U, MPRV <- 0 unless returning to M), SRET (mode <- SPP, SIE <-
 * SPIE, SPIE <- 1, SPP <- U, MPRV <- 0), SRET legal in M and S, illegal in U; MRET illegal in S
 * and U; mstatus.TSR (SRET in S traps), TVM (satp and SFENCE.VMA in S trap), TW (WFI in S traps),
 * WFI in U traps when it would wait, WFI completes with a locally enabled pending interrupt. */
#include "skiff_test.h"

/* Which mode are we in? Take an EBREAK and look at the privilege it came from (ends in M). */
#define CHECK_MODE_IS(p) EXPECT_TRAP(99f); ebreak; j skiff_fail; 99: CHECK_CAUSE(CAUSE_BREAKPOINT); CHECK_PRIV(p)
#define CHECK_MSTATUS(mask, value) csrr t5, mstatus; li t6, mask; and t5, t5, t6; FAIL_IF_NE(t5, value)
#define CHECK_SSTATUS(mask, value) csrr t5, sstatus; li t6, mask; and t5, t5, t6; FAIL_IF_NE(t5, value)
#define MRET_TO(mpp, label) li t5, MSTATUS_MPP; csrc mstatus, t5; li t5, mpp; csrs mstatus, t5; la t5, label; csrw mepc, t5; mret
#define ILLEGAL_AT(label) CHECK_CAUSE(CAUSE_ILLEGAL); CHECK_EPC(label)

TEST_BEGIN

  /* ---- trap entry into M from M ---- */
  li gp, 2
  csrsi mstatus, MSTATUS_MIE     /* mie = 0: nothing can interrupt */
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  li a7, 0
  EXPECT_TRAP(1f)
  ecall
  j skiff_fail
1: CHECK_CAUSE(CAUSE_ECALL_M)
  CHECK_STATUS(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MPP_M)
  /* the handler's MRET restored MIE from MPIE, set MPIE and left MPP = U */
  CHECK_MSTATUS(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MIE | MSTATUS_MPIE | MPP_U)
  csrci mstatus, MSTATUS_MIE

  /* ---- MRET within M ---- */
  li gp, 3
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  csrsi mstatus, MSTATUS_MIE
  MRET_TO(MPP_M, 1f)
  j skiff_fail
1: CHECK_MSTATUS(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MPP_U)
  li gp, 4                       /* MRET to M keeps MPRV */
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  MRET_TO(MPP_M, 1f)
  j skiff_fail
1: CHECK_MSTATUS(MSTATUS_MPRV, MSTATUS_MPRV)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0

  /* ---- MRET to S and U ---- */
  li gp, 5
  li t0, MSTATUS_MPIE
  csrs mstatus, t0
  MRET_TO(MPP_S, 1f)
  j skiff_fail
1: CHECK_MODE_IS(PRV_S)
  CHECK_STATUS(MSTATUS_MPIE, MSTATUS_MPIE)   /* MIE was 1 in S (from MPIE), now saved */
  li gp, 6
  MRET_TO(MPP_U, 1f)
  j skiff_fail
1: CHECK_MODE_IS(PRV_U)
  li gp, 7                       /* MRET to S clears MPRV */
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  MRET_TO(MPP_S, 1f)
  j skiff_fail
1: GOTO_M
  IF_QEMU(2f)                    /* QEMU 7.2 leaves MPRV set on MRET to S/U */
  CHECK_MSTATUS(MSTATUS_MPRV, 0)
2: li t0, MSTATUS_MPRV
  csrc mstatus, t0
  li gp, 8                       /* MRET to U clears MPRV */
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  MRET_TO(MPP_U, 1f)
  j skiff_fail
1: GOTO_M
  IF_QEMU(2f)
  CHECK_MSTATUS(MSTATUS_MPRV, 0)
2: li t0, MSTATUS_MPRV
  csrc mstatus, t0

  /* ---- trap entry from S and U records MPP and MPIE ---- */
  li gp, 10
  li t0, MSTATUS_MPIE
  csrs mstatus, t0
  MRET_TO(MPP_S, 1f)             /* S with MIE = 1 */
  j skiff_fail
1: li a7, 0
  EXPECT_TRAP(2f)
  ecall
  j skiff_fail
2: CHECK_CAUSE(CAUSE_ECALL_S)
  CHECK_STATUS(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MPP_S)
  li gp, 11
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  MRET_TO(MPP_U, 1f)             /* U with MIE = 0 */
  j skiff_fail
1: li a7, 0
  EXPECT_TRAP(2f)
  ecall
  j skiff_fail
2: CHECK_CAUSE(CAUSE_ECALL_U)
  CHECK_STATUS(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MPP_U)

  /* ---- SRET from S ---- */
  li gp, 20
  GOTO_MODE(MPP_S)
  li t0, MSTATUS_SPP | MSTATUS_SPIE
  csrs sstatus, t0
  csrci sstatus, MSTATUS_SIE
  la t0, 1f
  csrw sepc, t0
  sret                           /* to S */
  j skiff_fail
1: CHECK_SSTATUS(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SIE | MSTATUS_SPIE)
  CHECK_MODE_IS(PRV_S)
  li gp, 21                      /* SRET from S to U */
  GOTO_MODE(MPP_S)
  li t0, MSTATUS_SPP | MSTATUS_SPIE
  csrc sstatus, t0
  csrsi sstatus, MSTATUS_SIE
  la t0, 1f
  csrw sepc, t0
  sret
  j skiff_fail
1: CHECK_MODE_IS(PRV_U)
  CHECK_MSTATUS(MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE)

  /* ---- SRET from M ---- */
  li gp, 22
  li t0, MSTATUS_SPP
  csrs mstatus, t0
  la t0, 1f
  csrw sepc, t0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  sret                           /* M -> S, clears MPRV */
  j skiff_fail
1: CHECK_MODE_IS(PRV_S)
  CHECK_MSTATUS(MSTATUS_SPP, 0)
  IF_QEMU(2f)                    /* QEMU 7.2 leaves MPRV set on SRET */
  CHECK_MSTATUS(MSTATUS_MPRV, 0)
2: li t0, MSTATUS_MPRV
  csrc mstatus, t0
  li gp, 23
  la t0, 1f
  csrw sepc, t0
  sret                           /* M -> U (SPP = U now) */
  j skiff_fail
1: CHECK_MODE_IS(PRV_U)

  /* ---- xRET where it is illegal ---- */
  li gp, 30
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: sret
  j skiff_fail
2: ILLEGAL_AT(1b)
  CHECK_PRIV(PRV_U)
  li gp, 31
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: mret
  j skiff_fail
2: ILLEGAL_AT(1b)
  li gp, 32
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
1: mret
  j skiff_fail
2: ILLEGAL_AT(1b)
  CHECK_PRIV(PRV_S)
  CHECK_TVAL(0x30200073)

  /* ---- TSR ---- */
  li gp, 40
  li t0, MSTATUS_TSR
  csrs mstatus, t0
  GOTO_MODE(MPP_S)
  la t0, 3f
  csrw sepc, t0
  EXPECT_TRAP(2f)
1: sret
3: j skiff_fail
2: ILLEGAL_AT(1b)
  CHECK_TVAL(0x10200073)
  li gp, 41                      /* TSR does not affect SRET in M */
  li t0, MSTATUS_SPP
  csrs mstatus, t0
  la t0, 1f
  csrw sepc, t0
  sret
  j skiff_fail
1: CHECK_MODE_IS(PRV_S)
  li t0, MSTATUS_TSR
  csrc mstatus, t0

  /* ---- TVM ---- */
  li gp, 50
  li t0, MSTATUS_TVM
  csrs mstatus, t0
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
1: csrr t1, satp
  j skiff_fail
2: ILLEGAL_AT(1b)
  li gp, 51
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
1: csrw satp, zero
  j skiff_fail
2: ILLEGAL_AT(1b)
  li gp, 52
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
1: sfence.vma
  j skiff_fail
2: ILLEGAL_AT(1b)
  li gp, 53
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
1: sfence.vma x0, t0
  j skiff_fail
2: ILLEGAL_AT(1b)
  li gp, 54                      /* M-mode is not affected */
  csrr t1, satp
  csrw satp, zero
  sfence.vma
  li t0, MSTATUS_TVM
  csrc mstatus, t0
  li gp, 55                      /* TVM = 0: S may use both */
  GOTO_MODE(MPP_S)
  csrr t1, satp
  csrw satp, zero
  sfence.vma
  sfence.vma t0, zero
  GOTO_M

  /* ---- WFI ---- */
  li gp, 60                      /* M: a locally enabled pending interrupt wakes it, MIE = 0 */
  csrci mstatus, MSTATUS_MIE
  csrsi mip, MIP_SSIP
  csrsi mie, MIP_SSIP
  wfi
  csrci mie, MIP_SSIP
  csrci mip, MIP_SSIP
  li gp, 61                      /* TW = 1: WFI in S that would wait traps */
  li t0, MSTATUS_TW
  csrs mstatus, t0
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(2f)
1: wfi
  j skiff_fail
2: ILLEGAL_AT(1b)
  CHECK_PRIV(PRV_S)
  CHECK_TVAL(0x10500073)
  li t0, MSTATUS_TW
  csrc mstatus, t0
  li gp, 62                      /* U: WFI that would wait traps even with TW = 0 */
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(2f)
1: wfi
  j skiff_fail
2: ILLEGAL_AT(1b)
  CHECK_PRIV(PRV_U)
  li gp, 63                      /* S, TW = 0: a pending S interrupt, masked by SIE, wakes it */
  csrci mstatus, MSTATUS_SIE
  csrsi mideleg, MIP_SSIP
  csrsi mie, MIP_SSIP
  csrsi mip, MIP_SSIP
  GOTO_MODE(MPP_S)
  csrci sstatus, MSTATUS_SIE
  wfi
  csrci sip, MIP_SSIP
  GOTO_M
  csrci mie, MIP_SSIP
  csrci mideleg, MIP_SSIP

TEST_END
