/* Machine and supervisor CSRs, their reset-independent values and WARL behaviour:
 * misa (RV32, I M A S U), mvendorid/marchid/mimpid readable, mhartid = 0, mstatus fields (MPP
 * legal values only, SPP, xIE/xPIE, MPRV SUM MXR TVM TW TSR, SD = dirty summary, little-endian),
 * mstatush, sstatus as a view of mstatus, mtvec/stvec direct + vectored (reserved modes never read
 * back), medeleg (bit 11 read-only zero, the delegable exceptions writable), mideleg, mie/mip
 * (writable bits, MSIP/MTIP/MEIP read-only in mip), sie/sip masked by mideleg, mepc/sepc low bits,
 * mcause/scause, mtval/stval, mscratch/sscratch, satp (Sv32 MODE and PPN held in M-mode),
 * mcounteren/scounteren, menvcfg/menvcfgh/senvcfg (FIOM only), mcountinhibit (TM read-only zero,
 * an inhibit bit that holds stops its counter), mhpmcounter3-31[h] and mhpmevent3-31 (event 0
 * counts nothing, hpmcounterN shadows), the trigger CSRs (tselect, tdata1-3, tinfo: Debug spec
 * 0.13 §5.2; a machine without triggers reads type 0 with everything else zero) and the
 * M-only/S-only access rules for all of these. */
#include "skiff_test.h"

/* csr from privilege mpp traps as illegal with mtval = the instruction bits; back in M after. */
#define TEST_ILLEGAL_IN(n, mpp, ...)                                                            \
  li gp, n; GOTO_MODE(mpp); EXPECT_TRAP(99f); 98: __VA_ARGS__; j skiff_fail;                   \
  99: CHECK_CAUSE(CAUSE_ILLEGAL); CHECK_EPC(98b); la t5, 98b; lw t5, 0(t5); CHECK_TVAL_REG(t5)
/* x5 = csr, or x5 = 0x77 with x8 = 1 when reading it traps (illegal instruction). */
#define TRY_READ(csr)                                                                           \
  li x5, 0x77; li x8, 0; EXPECT_TRAP(99f); csrr x5, csr; CLEAR_EXPECT; j 98f;                  \
  99: CHECK_CAUSE(CAUSE_ILLEGAL); li x8, 1; 98:

TEST_BEGIN

  /* ---- misa ---- */
  li gp, 2
  csrr x5, misa
  beqz x5, 1f                     /* misa = 0 is allowed (not implemented) */
  srli x6, x5, 30
  FAIL_IF_NE(x6, 1)               /* MXL = 1: XLEN 32 */
  li x7, (1 << 0) | (1 << 8) | (1 << 12) | (1 << 18) | (1 << 20)  /* A I M S U */
  and x6, x5, x7
  bne x6, x7, skiff_fail
  li x7, (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7)      /* not C D E F H */
  and x6, x5, x7
  bnez x6, skiff_fail
1:
  li gp, 3                        /* writing misa back unchanged keeps everything working */
  csrr x5, misa
  csrw misa, x5
  csrr x6, misa
  bne x5, x6, skiff_fail

  /* ---- identification ---- */
  li gp, 4
  csrr x5, mvendorid
  csrr x5, marchid
  csrr x5, mimpid
  csrr x5, mhartid
  FAIL_IF_NE(x5, 0)

  /* ---- mstatus ---- */
  li gp, 10                       /* MPP holds U, S, M */
  li x6, MSTATUS_MPP
  csrc mstatus, x6
  csrr x5, mstatus
  and x5, x5, x6
  FAIL_IF_NE(x5, MPP_U)
  li x7, MPP_S
  csrs mstatus, x7
  csrr x5, mstatus
  and x5, x5, x6
  FAIL_IF_NE(x5, MPP_S)
  csrs mstatus, x6
  csrr x5, mstatus
  and x5, x5, x6
  FAIL_IF_NE(x5, MPP_M)
  li gp, 11                       /* MPP = 2 (reserved) never reads back */
  csrc mstatus, x6
  li x7, 0x1000
  csrs mstatus, x7
  csrr x5, mstatus
  and x5, x5, x6
  IF_QEMU(1f)                     /* QEMU 7.2 keeps MPP = 2 */
  FAIL_IF_EQ(x5, 0x1000)
1: csrs mstatus, x6               /* back to M */
  li gp, 12                       /* single-bit fields are writable */
  li x7, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
  csrs mstatus, x7
  csrr x5, mstatus
  and x5, x5, x7
  bne x5, x7, skiff_fail
  csrc mstatus, x7
  csrr x5, mstatus
  and x5, x5, x7
  bnez x5, skiff_fail
  li gp, 13                       /* MIE */
  csrsi mstatus, MSTATUS_MIE
  csrr x5, mstatus
  andi x5, x5, MSTATUS_MIE
  FAIL_IF_NE(x5, MSTATUS_MIE)
  csrci mstatus, MSTATUS_MIE
  csrr x5, mstatus
  andi x5, x5, MSTATUS_MIE
  bnez x5, skiff_fail
  li gp, 14                       /* SD summarizes FS/VS/XS = 3 */
  li x7, MSTATUS_FS | MSTATUS_VS | MSTATUS_XS
  csrs mstatus, x7
  csrr x5, mstatus
  srli x8, x5, 31                 /* SD */
  li x9, 0
  srli x6, x5, 13
  andi x6, x6, 3
  li x10, 3
  bne x6, x10, 1f
  li x9, 1
1: srli x6, x5, 9
  andi x6, x6, 3
  bne x6, x10, 1f
  li x9, 1
1: srli x6, x5, 15
  andi x6, x6, 3
  bne x6, x10, 1f
  li x9, 1
1: bne x8, x9, skiff_fail
  csrc mstatus, x7
  csrr x5, mstatus
  bltz x5, skiff_fail             /* all clean again: SD = 0 */
  li gp, 15                       /* XS: no custom state, read-only zero */
  li x7, MSTATUS_XS
  csrs mstatus, x7
  csrr x5, mstatus
  and x5, x5, x7
  bnez x5, skiff_fail
  li gp, 16                       /* little-endian only: UBE and mstatush.SBE/MBE read zero */
  li x7, MSTATUS_UBE
  csrs mstatus, x7
  csrr x5, mstatus
  and x5, x5, x7
  bnez x5, skiff_fail
  li x7, 0x30                     /* mstatush.SBE, MBE */
  csrs mstatush, x7
  csrr x5, mstatush
  bnez x5, skiff_fail

  /* ---- sstatus is a view of mstatus ---- */
  li gp, 20
  li x7, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV
  csrs mstatus, x7
  csrr x5, sstatus
  and x5, x5, x7
  bnez x5, skiff_fail             /* M-only fields are invisible */
  csrc mstatus, x7
  li gp, 21
  li x7, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
  csrs mstatus, x7
  csrr x5, sstatus
  and x5, x5, x7
  bne x5, x7, skiff_fail          /* S fields are visible */
  li gp, 22
  csrw sstatus, x0                /* clears the S fields in mstatus ... */
  csrr x5, mstatus
  and x5, x5, x7
  bnez x5, skiff_fail
  li gp, 23
  li x8, MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TW
  csrs mstatus, x8
  li x6, -1
  csrw sstatus, x6                /* ... and never touches the M fields */
  csrr x5, mstatus
  and x9, x5, x8
  bne x9, x8, skiff_fail
  andi x9, x5, MSTATUS_MIE
  bnez x9, skiff_fail
  li x9, MSTATUS_TVM | MSTATUS_TSR | MSTATUS_MPRV
  and x9, x5, x9
  bnez x9, skiff_fail
  and x9, x5, x7
  bne x9, x7, skiff_fail          /* S fields set through sstatus */
  csrw sstatus, x0
  li x7, MSTATUS_MPP
  csrs mstatus, x7

  /* ---- mtvec / stvec ---- */
  li gp, 30
  csrr x20, mtvec
  la x6, tvec_area
  csrw mtvec, x6                  /* direct */
  csrr x5, mtvec
  bne x5, x6, skiff_fail
  ori x7, x6, 1                   /* vectored */
  csrw mtvec, x7
  csrr x5, mtvec
  bne x5, x7, skiff_fail
  li gp, 31                       /* reserved modes 2, 3 never read back */
  ori x7, x6, 2
  csrw mtvec, x7
  csrr x5, mtvec
  andi x5, x5, 3
  FAIL_IF_EQ(x5, 2)
  FAIL_IF_EQ(x5, 3)
  ori x7, x6, 3
  csrw mtvec, x7
  csrr x5, mtvec
  andi x5, x5, 3
  FAIL_IF_EQ(x5, 2)
  FAIL_IF_EQ(x5, 3)
  csrw mtvec, x20
  li gp, 32
  csrr x20, stvec
  csrw stvec, x6
  csrr x5, stvec
  bne x5, x6, skiff_fail
  ori x7, x6, 1
  csrw stvec, x7
  csrr x5, stvec
  bne x5, x7, skiff_fail
  ori x7, x6, 2
  csrw stvec, x7
  csrr x5, stvec
  andi x5, x5, 3
  FAIL_IF_EQ(x5, 2)
  csrw stvec, x20

  /* ---- medeleg / mideleg ---- */
  li gp, 40
  li x6, -1
  csrw medeleg, x6
  csrr x5, medeleg
  li x7, (1 << 11)                /* ECALL from M can never be delegated */
  and x8, x5, x7
  IF_QEMU(1f)                     /* QEMU 7.2 lets medeleg[11] be set */
  bnez x8, skiff_fail
1:
  li gp, 41                       /* exceptions S-mode software (Linux) delegates */
  li x7, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15)
  and x8, x5, x7
  bne x8, x7, skiff_fail
  li gp, 42                       /* reserved causes 10, 14 and 16..31 are not delegable */
  li x7, (1 << 10) | (1 << 14) | 0xffff0000
  and x8, x5, x7
  IF_QEMU(1f)                     /* QEMU 7.2 keeps the H causes 10, 20-23 delegable without H */
  bnez x8, skiff_fail
1:
  csrw medeleg, x0
  csrr x5, medeleg
  bnez x5, skiff_fail
  li gp, 43
  csrw mideleg, x6
  csrr x5, mideleg
  li x7, MIP_SSIP | MIP_STIP | MIP_SEIP
  and x8, x5, x7
  bne x8, x7, skiff_fail
  csrw mideleg, x0
  csrr x5, mideleg
  bnez x5, skiff_fail

  /* ---- mie / mip ---- */
  li gp, 50
  csrw mie, x6
  csrr x5, mie
  li x7, 0xaaa                    /* SSIE MSIE STIE MTIE SEIE MEIE */
  and x8, x5, x7
  bne x8, x7, skiff_fail
  li x7, 0x555                    /* bits 0 2 4 6 8 10 are not interrupts here */
  and x8, x5, x7
  IF_QEMU(1f)                     /* QEMU 7.2 keeps the VS interrupt bits 2 6 10 without H */
  bnez x8, skiff_fail
1:
  csrw mie, x0
  csrr x5, mie
  bnez x5, skiff_fail
  li gp, 51                       /* M writes SSIP STIP SEIP; MSIP MTIP MEIP are read-only */
  csrr x9, mip
  li x7, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrs mip, x7
  csrr x5, mip
  and x8, x5, x7
  bne x8, x7, skiff_fail
  csrc mip, x7
  csrr x5, mip
  and x8, x5, x7
  bnez x8, skiff_fail
  li gp, 52
  li x7, MIP_MSIP | MIP_MEIP
  csrs mip, x7                    /* no effect: no CLINT msip, no PLIC */
  csrr x5, mip
  and x8, x5, x7
  bnez x8, skiff_fail
  li x7, MIP_MTIP                 /* MTIP follows mtimecmp, whatever is written */
  and x10, x9, x7
  csrs mip, x7
  csrr x5, mip
  and x8, x5, x7
  bne x8, x10, skiff_fail
  csrc mip, x7
  csrr x5, mip
  and x8, x5, x7
  bne x8, x10, skiff_fail

  /* ---- sie / sip are the delegated part of mie / mip ---- */
  li gp, 60
  csrw mideleg, x0
  csrw mie, x0
  csrw sie, x6                    /* nothing delegated: sie is all zero and mie unchanged */
  csrr x5, sie
  bnez x5, skiff_fail
  csrr x5, mie
  bnez x5, skiff_fail
  li gp, 61
  li x7, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mideleg, x7
  csrw sie, x6
  csrr x5, sie
  bne x5, x7, skiff_fail
  csrr x5, mie
  bne x5, x7, skiff_fail          /* only S bits set through sie */
  li x8, MIP_MSIP | MIP_MTIP | MIP_MEIP
  csrs mie, x8
  csrr x5, sie
  bne x5, x7, skiff_fail          /* M bits invisible in sie */
  csrw sie, x0
  csrr x5, mie
  bne x5, x8, skiff_fail          /* and untouched by writes to it */
  csrw mie, x0
  li gp, 62                       /* sip: SSIP writable from S, STIP/SEIP read-only there */
  GOTO_MODE(MPP_S)
  csrsi sip, MIP_SSIP
  csrr x5, sip
  andi x5, x5, MIP_SSIP
  FAIL_IF_NE(x5, MIP_SSIP)
  li x7, MIP_STIP | MIP_SEIP
  csrs sip, x7
  csrr x5, sip
  and x5, x5, x7
  bnez x5, skiff_fail
  csrci sip, MIP_SSIP
  csrr x5, sip
  bnez x5, skiff_fail
  GOTO_M
  li gp, 63                       /* sip shows pending bits only where delegated */
  csrsi mip, MIP_SSIP
  csrr x5, sip
  FAIL_IF_NE(x5, MIP_SSIP)
  csrw mideleg, x0
  csrr x5, sip
  bnez x5, skiff_fail
  csrci mip, MIP_SSIP

  /* ---- mepc / sepc: bit 0 is always zero, bit 1 too without C ---- */
  li gp, 70
  IF_QEMU(1f)                     /* QEMU 7.2 stores and returns mepc/sepc unmasked */
  li x6, 0x80001237
  csrw mepc, x6
  csrr x5, mepc
  FAIL_IF_NE(x5, 0x80001234)
  csrw sepc, x6
  csrr x5, sepc
  FAIL_IF_NE(x5, 0x80001234)
  li gp, 71
  csrr x7, misa
  andi x7, x7, 1 << 2
  bnez x7, 1f                     /* with C enabled, bit 1 is kept */
  li x6, 0x8000123e
  csrw mepc, x6
  csrr x5, mepc
  FAIL_IF_NE(x5, 0x8000123c)
  csrw sepc, x6
  csrr x5, sepc
  FAIL_IF_NE(x5, 0x8000123c)
1:

  /* ---- cause and tval registers, scratch ---- */
  li gp, 72
  li x6, 0x80000007
  csrw mcause, x6
  csrr x5, mcause
  bne x5, x6, skiff_fail
  li x6, 13
  csrw mcause, x6
  csrr x5, mcause
  bne x5, x6, skiff_fail
  li x6, 0x80000005
  csrw scause, x6
  csrr x5, scause
  bne x5, x6, skiff_fail
  li x6, 12
  csrw scause, x6
  csrr x5, scause
  bne x5, x6, skiff_fail
  li gp, 73
  li x6, 0x80004321
  csrw mtval, x6
  csrr x5, mtval
  bne x5, x6, skiff_fail
  csrw stval, x6
  csrr x5, stval
  bne x5, x6, skiff_fail
  csrw mtval, x0
  csrr x5, mtval
  bnez x5, skiff_fail
  li gp, 74
  li x6, 0xa5a5a5a5
  csrw mscratch, x6
  csrr x5, mscratch
  bne x5, x6, skiff_fail
  not x6, x6
  csrw sscratch, x6
  csrr x5, sscratch
  bne x5, x6, skiff_fail
  RESTORE_SCRATCH

  /* ---- satp (M-mode is never translated, so any Sv32 value is safe here) ---- */
  li gp, 80
  li x6, SATP_SV32 | 0x80123      /* MODE = Sv32, PPN of a RAM page */
  csrw satp, x6
  csrr x5, satp
  li x7, 0x803fffff               /* MODE and PPN (ASID may be 0..9 bits) */
  and x5, x5, x7
  bne x5, x6, skiff_fail
  li gp, 81
  li x6, SATP_SV32 | (0x1ff << 22) | 0x80123
  csrw satp, x6
  csrr x5, satp
  not x7, x6
  and x7, x5, x7
  bnez x7, skiff_fail             /* ASID bits read back as a subset of the written ones */
  csrw satp, x0
  csrr x5, satp
  bnez x5, skiff_fail
  sfence.vma

  /* ---- counter enables ---- */
  li gp, 90
  li x6, 7
  csrw mcounteren, x6
  csrr x5, mcounteren
  andi x5, x5, 7
  FAIL_IF_NE(x5, 7)
  csrw scounteren, x6
  csrr x5, scounteren
  andi x5, x5, 7
  FAIL_IF_NE(x5, 7)
  csrw mcounteren, x0
  csrr x5, mcounteren
  bnez x5, skiff_fail
  csrw scounteren, x0
  csrr x5, scounteren
  bnez x5, skiff_fail

  /* ---- envcfg (§3.1.18, §4.1.10): without Zicbom/Zicboz/Svpbmt/Sstc only FIOM exists ---- */
  li gp, 100
  li x6, -1
  csrw menvcfg, x6
  csrr x5, menvcfg
  andi x7, x5, 1
  FAIL_IF_NE(x7, 1)               /* FIOM holds a 1 */
  andi x5, x5, ~1
  IF_QEMU(1f)                     /* QEMU 7.2 also holds CBIE/CBCFE/CBZE (bits 4-7) */
  bnez x5, skiff_fail
  j 2f
1: andi x5, x5, ~0xf0
  bnez x5, skiff_fail
2: csrw menvcfg, x0
  csrr x5, menvcfg
  bnez x5, skiff_fail
  li gp, 101                      /* menvcfgh: PBMTE (Svpbmt) and STCE (Sstc) read-only zero */
  IF_QEMU(1f)                     /* QEMU 7.2 holds both with svpbmt and sstc off */
  li x6, -1
  csrw menvcfgh, x6
  csrr x5, menvcfgh
  bnez x5, skiff_fail
1: csrw menvcfgh, x0
  li gp, 102                      /* senvcfg from S: FIOM, independent of menvcfg */
  GOTO_MODE(MPP_S)
  li x6, -1
  csrw senvcfg, x6
  csrr x5, senvcfg
  GOTO_M
  andi x7, x5, 1
  FAIL_IF_NE(x7, 1)
  andi x5, x5, ~1
  IF_QEMU(1f)                     /* as menvcfg */
  bnez x5, skiff_fail
  j 2f
1: andi x5, x5, ~0xf0
  bnez x5, skiff_fail
2: csrr x5, menvcfg
  bnez x5, skiff_fail
  csrw senvcfg, x0
  csrr x5, senvcfg
  bnez x5, skiff_fail
  TEST_ILLEGAL_IN(103, MPP_U, csrr x5, senvcfg)
  TEST_ILLEGAL_IN(104, MPP_S, csrr x5, menvcfg)
  TEST_ILLEGAL_IN(105, MPP_S, csrw menvcfgh, x0)

  /* ---- mcountinhibit (§3.1.13): WARL; a set bit that holds stops that counter ---- */
  li gp, 110                      /* bit 1 (time) does not exist: read-only zero */
  li x6, -1
  csrw mcountinhibit, x6
  csrr x5, mcountinhibit
  csrw mcountinhibit, x0
  andi x5, x5, 2
  IF_QEMU(1f)                     /* QEMU 7.2 holds bit 1 */
  bnez x5, skiff_fail
1: li gp, 111                     /* IR: minstret stops if the bit holds, counts otherwise */
  csrwi mcountinhibit, 4
  csrr x9, mcountinhibit
  csrr x5, minstret
  nop
  nop
  csrr x6, minstret
  csrw mcountinhibit, x0
  andi x9, x9, 4
  beqz x9, 1f
  IF_QEMU(2f)                     /* QEMU 7.2 reads an inhibited counter wrongly (0, or jumps) */
  bne x5, x6, skiff_fail
  j 2f
1: beq x5, x6, skiff_fail
2: li gp, 112                     /* CY likewise for mcycle */
  csrwi mcountinhibit, 1
  csrr x9, mcountinhibit
  csrr x5, mcycle
  li x7, 100
3: addi x7, x7, -1
  bnez x7, 3b
  csrr x6, mcycle
  csrw mcountinhibit, x0
  andi x9, x9, 1
  beqz x9, 1f
  IF_QEMU(2f)                     /* as for minstret */
  bne x5, x6, skiff_fail
  j 2f
1: beq x5, x6, skiff_fail
2: li gp, 113                     /* cleared again: both count */
  csrr x5, minstret
  csrr x6, minstret
  beq x5, x6, skiff_fail
  TEST_ILLEGAL_IN(114, MPP_S, csrr x5, mcountinhibit)

  /* ---- mhpmcounter3-31, mhpmevent3-31 (§3.1.10, §3.1.11): event 0 is "no event" ---- */
  li gp, 120                      /* event 0 reads back as 0 */
  .irp n, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
  csrw mhpmevent\n, x0
  csrr x5, mhpmevent\n
  bnez x5, skiff_fail
  .endr
  li gp, 121                      /* a counter with no event holds its value, or is zero */
  .irp n, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
  li x6, 0x5a5a0000 + \n
  csrw mhpmcounter\n, x6
  csrr x5, mhpmcounter\n
  csrr x7, mhpmcounter\n
  bne x5, x7, skiff_fail
  beqz x5, 1f
  bne x5, x6, skiff_fail
1: li x6, 0xa5a50000 + \n
  csrw mhpmcounter\n\()h, x6
  csrr x5, mhpmcounter\n\()h
  beqz x5, 1f
  bne x5, x6, skiff_fail
1: csrr x7, hpmcounter\n         /* M reads the unprivileged shadows, the same values */
  csrr x5, mhpmcounter\n
  bne x5, x7, skiff_fail
  csrr x7, hpmcounter\n\()h
  csrr x5, mhpmcounter\n\()h
  bne x5, x7, skiff_fail
  csrw mhpmcounter\n, x0
  csrw mhpmcounter\n\()h, x0
  .endr
  li gp, 122                      /* any event value may be written (WARL); 0 restores */
  li x6, -1
  csrw mhpmevent3, x6
  csrw mhpmevent3, x0
  csrr x5, mhpmevent3
  bnez x5, skiff_fail
  TEST_ILLEGAL_IN(123, MPP_S, csrr x5, mhpmcounter3)
  TEST_ILLEGAL_IN(124, MPP_S, csrr x5, mhpmcounter31h)
  TEST_ILLEGAL_IN(125, MPP_S, csrw mhpmevent3, x0)
  TEST_ILLEGAL_IN(126, MPP_U, csrr x5, mhpmevent31)

  /* ---- trigger module (Debug spec 0.13 §5.2) ---- */
  li gp, 130                      /* tselect 0 is always a legal index */
  csrw tselect, x0
  csrr x5, tselect
  bnez x5, skiff_fail
  csrr x5, tdata1
  srli x9, x5, 28                 /* x9 = type of trigger 0 */
  bnez x9, 5f
  /* type 0: no trigger at 0, and as triggers are numbered from 0, none at all */
  li gp, 131                      /* type 0: dmode and data are zero too */
  bnez x5, skiff_fail
  csrr x5, tdata2
  csrr x5, tdata3
  li gp, 132                      /* writes cannot create one */
  li x6, -1
  csrw tdata1, x6
  csrw tdata2, x6
  csrw tdata3, x6
  csrr x5, tdata1
  bnez x5, skiff_fail
  li gp, 133                      /* nor is there one at index 1, whatever tselect reads back */
  csrwi tselect, 1
  csrr x5, tdata1
  srli x5, x5, 28
  bnez x5, skiff_fail
  li x6, -1
  csrw tselect, x6
  csrr x5, tdata1
  srli x5, x5, 28
  bnez x5, skiff_fail
  csrw tselect, x0
  li gp, 134                      /* tinfo: 1 for a trigger that doesn't exist, or not there */
  TRY_READ(tinfo)
  bnez x8, 6f
  slli x5, x5, 16
  srli x5, x5, 16
  FAIL_IF_NE(x5, 1)
  j 6f
5: li gp, 135                     /* triggers exist: tinfo, if present, lists trigger 0's type */
  TRY_READ(tinfo)
  bnez x8, 6f
  srl x5, x5, x9
  andi x5, x5, 1
  FAIL_IF_NE(x5, 1)
6: csrw tselect, x0
  TEST_ILLEGAL_IN(136, MPP_S, csrr x5, tselect)
  TEST_ILLEGAL_IN(137, MPP_S, csrw tselect, x0)
  TEST_ILLEGAL_IN(138, MPP_S, csrr x5, tdata1)
  TEST_ILLEGAL_IN(139, MPP_U, csrr x5, tdata2)
  TEST_ILLEGAL_IN(140, MPP_U, csrr x5, tinfo)

TEST_END

  .data
  .balign 256
tvec_area:
  .word 0
