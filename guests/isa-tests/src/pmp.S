/* Physical memory protection (Privileged spec 1.12 §3.7), 16 entries with a 4-byte grain: pmpaddr
 * WARL (every bit writable: G = 0), pmpcfg reserved bits 6:5 read zero, R=0 W=1 is not stored,
 * pmpcfg1/pmpcfg3 exist on RV32; NA4, NAPOT and TOR matching (TOR in entry 0 from address 0, the
 * lowest-numbered matching entry decides), R for loads, W for stores, X for fetches, causes 5/7/1
 * with mtval = the address, in S and U; no matching entry fails S/U but not M; unlocked entries
 * do not apply to M; MPRV loads and stores are checked for MPP; Sv32 walks read PTEs as S-mode
 * loads (denied: the access fault of the access); rule changes reach accesses that
 * were allowed before; locked entries (cfg and pmpaddr, and the pmpaddr below a locked TOR entry)
 * cannot be written and apply to M as well. Entry 15 is the fallback that grants RWX everywhere. */
#include "skiff_test.h"
#include "sv32.h"

#define RWX 0x07
#define TOR 0x08
#define NA4 0x10
#define NAPOT 0x18
#define LOCK 0x80
/* pmpaddr of the naturally aligned region [base, base + size), size >= 8 */
#define NAPOT_ADDR(reg, base, size) la reg, base; srli reg, reg, 2; ori reg, reg, ((size) >> 3) - 1
/* entry e's config byte := v (the other three bytes of its pmpcfg untouched) */
#define SET_CFG(csr, e, v) li t0, 0xff << (8 * ((e) & 3)); csrc csr, t0; li t0, (v) << (8 * ((e) & 3)); csrs csr, t0
#define CFG_IS(csr, e, v) csrr t0, csr; srli t0, t0, 8 * ((e) & 3); andi t0, t0, 0xff; FAIL_IF_NE(t0, v)

/* In mode mpp, `insn` (address in a0 = pmp_page + off) must succeed; ends in M. */
#define ACCESS_OK(n, mpp, off, ...) li gp, n; la a0, pmp_page + (off); GOTO_MODE(mpp); __VA_ARGS__; GOTO_M
/* ... must raise cause c with mtval = a0 from mode p; ends in M. */
#define ACCESS_FAULT(n, mpp, off, c, ...)                                                       \
  li gp, n; la a0, pmp_page + (off); GOTO_MODE(mpp); EXPECT_TRAP(99f); __VA_ARGS__;            \
  j skiff_fail;                                                                                \
  99: CHECK_CAUSE(c); CHECK_TVAL_REG(a0); CHECK_PRIV((mpp) >> 11)

TEST_BEGIN

  /* ---- CSRs ---- */
  li gp, 2                       /* G = 0: pmpaddr keeps every bit (what a granularity probe sees) */
  li t1, -1
  csrw pmpaddr3, t1
  csrr t0, pmpaddr3
  FAIL_IF_NE(t0, -1)
  li t1, 0x12345679
  csrw pmpaddr3, t1
  csrr t0, pmpaddr3
  FAIL_IF_NE(t0, 0x12345679)
  li gp, 3                       /* reserved bits 6:5 read zero */
  IF_QEMU(1f)                    /* QEMU 7.2 stores them */
  SET_CFG(pmpcfg1, 4, 0x7d)
  CFG_IS(pmpcfg1, 4, 0x1d)
1:
  li gp, 4                       /* R=0 W=1 is reserved: the entry keeps its config */
  SET_CFG(pmpcfg1, 5, NAPOT | 1)
  li t0, (NAPOT | 2) << 8
  csrs pmpcfg1, t0               /* writes 0x1b: R=1 W=1, legal */
  CFG_IS(pmpcfg1, 5, NAPOT | 3)
  IF_QEMU(1f)                    /* QEMU 7.2 stores R=0 W=1 */
  csrw pmpcfg1, zero
  li t0, ((NAPOT | 2) << 8) | (NAPOT | 1)
  csrw pmpcfg1, t0               /* entry 5 keeps its (cleared) config, entry 4 is written */
  CFG_IS(pmpcfg1, 5, 0)
  CFG_IS(pmpcfg1, 4, NAPOT | 1)
  li t0, ((NAPOT | 3) << 8) | (NAPOT | 1)
  csrw pmpcfg1, t0
  li t0, ((NAPOT | 2) << 8) | (NAPOT | 6)
  csrw pmpcfg1, t0               /* both reserved: both keep theirs */
  CFG_IS(pmpcfg1, 5, NAPOT | 3)
  CFG_IS(pmpcfg1, 4, NAPOT | 1)
1:
  li gp, 5                       /* pmpcfg1 and pmpcfg3 exist on RV32: 16 entries in 4 CSRs */
  li t1, 0x01050304
  csrw pmpcfg3, t1
  csrr t0, pmpcfg3
  FAIL_IF_NE(t0, 0x01050304)
  csrw pmpcfg3, zero
  csrw pmpcfg1, zero
  csrw pmpcfg2, zero
  li gp, 6                       /* nothing past entry 15: pmpcfg4-15 and pmpaddr16-63 read zero */
  IF_QEMU(1f)                    /* QEMU 7.2 has only pmpcfg0-3 and pmpaddr0-15 (the rest trap) */
  li t1, -1
  csrw pmpcfg4, t1
  csrr t0, pmpcfg4
  FAIL_IF_NE(t0, 0)
  csrw pmpcfg15, t1
  csrr t0, pmpcfg15
  FAIL_IF_NE(t0, 0)
  csrw pmpaddr16, t1
  csrr t0, pmpaddr16
  FAIL_IF_NE(t0, 0)
  csrw pmpaddr63, t1
  csrr t0, pmpaddr63
  FAIL_IF_NE(t0, 0)
1:
  li gp, 7                       /* PMP CSRs are M-only */
  GOTO_MODE(MPP_S)
  TEST_TRAP(7, CAUSE_ILLEGAL, csrr t0, pmpcfg0)
  /* ---- entry 15: the fallback over the whole 34-bit space (NAPOT, pmpaddr all ones) ---- */
  li t0, -1
  csrw pmpaddr15, t0
  SET_CFG(pmpcfg3, 15, NAPOT | RWX)
  SET_CFG(pmpcfg0, 0, 0)
  sfence.vma
  ACCESS_OK(8, MPP_S, 0, lw t0, 0(a0); sw t0, 0(a0))
  ACCESS_OK(9, MPP_U, 0x300, lw t0, 0(a0); sw t0, 0(a0))

  /* ---- NA4 (entry 0, R) at +0 ---- */
  la t0, pmp_page
  srli t0, t0, 2
  csrw pmpaddr0, t0
  SET_CFG(pmpcfg0, 0, NA4 | 1)
  sfence.vma
  ACCESS_OK(10, MPP_S, 0, lw t0, 0(a0))
  ACCESS_FAULT(11, MPP_S, 0, CAUSE_STORE_ACCESS, sw zero, 0(a0))
  ACCESS_FAULT(12, MPP_S, 3, CAUSE_STORE_ACCESS, sb zero, 0(a0))
  ACCESS_OK(13, MPP_S, 4, sw zero, 0(a0))
  ACCESS_OK(14, MPP_S, -4, lw t0, 0(a0))

  /* ---- NAPOT 8 bytes (entry 1, no permissions) at +8 ---- */
  NAPOT_ADDR(t0, pmp_page + 8, 8)
  csrw pmpaddr1, t0
  SET_CFG(pmpcfg0, 1, NAPOT)
  sfence.vma
  ACCESS_FAULT(15, MPP_S, 8, CAUSE_LOAD_ACCESS, lw t0, 0(a0))
  ACCESS_FAULT(16, MPP_S, 12, CAUSE_LOAD_ACCESS, lw t0, 0(a0))
  ACCESS_FAULT(17, MPP_U, 14, CAUSE_LOAD_ACCESS, lhu t0, 0(a0))
  ACCESS_OK(18, MPP_S, 16, lw t0, 0(a0))
  ACCESS_OK(19, MPP_S, 4, lw t0, 0(a0))

  /* ---- TOR (entry 3, R) over [+0x100, +0x200), bottom in pmpaddr2 (entry 2 OFF) ---- */
  la t0, pmp_page + 0x100
  srli t0, t0, 2
  csrw pmpaddr2, t0
  la t0, pmp_page + 0x200
  srli t0, t0, 2
  csrw pmpaddr3, t0
  SET_CFG(pmpcfg0, 3, TOR | 1)
  sfence.vma
  ACCESS_OK(20, MPP_S, 0xfc, sw zero, 0(a0))
  ACCESS_OK(21, MPP_S, 0x100, lw t0, 0(a0))
  ACCESS_FAULT(22, MPP_S, 0x100, CAUSE_STORE_ACCESS, sw zero, 0(a0))
  ACCESS_FAULT(23, MPP_U, 0x1fc, CAUSE_STORE_ACCESS, sw zero, 0(a0))
  ACCESS_OK(24, MPP_S, 0x200, sw zero, 0(a0))
  ACCESS_FAULT(25, MPP_S, 0x1fc, CAUSE_STORE_ACCESS, amoadd.w t0, zero, (a0))

  /* ---- priority: entry 4 NAPOT 4 KiB over the page, no permissions, below entries 0-3 ---- */
  NAPOT_ADDR(t0, pmp_page, 0x1000)
  csrw pmpaddr4, t0
  SET_CFG(pmpcfg1, 4, NAPOT)
  sfence.vma
  ACCESS_FAULT(26, MPP_S, 0x300, CAUSE_LOAD_ACCESS, lw t0, 0(a0))
  ACCESS_FAULT(27, MPP_U, 0x300, CAUSE_STORE_ACCESS, sw zero, 0(a0))
  ACCESS_OK(28, MPP_S, 0, lw t0, 0(a0))             /* entry 0 (R) decides */
  ACCESS_OK(29, MPP_S, 0x180, lw t0, 0(a0))         /* entry 3 (R) decides */
  ACCESS_FAULT(30, MPP_S, 4, CAUSE_STORE_ACCESS, sw zero, 0(a0))
  ACCESS_OK(31, MPP_S, 0x1000, sw zero, 0(a0))      /* next page: entry 15 */

  /* ---- unlocked entries do not apply to M ---- */
  li gp, 32
  la a0, pmp_page + 0x300
  lw t0, 0(a0)
  sw t0, 0(a0)
  la a0, pmp_page + 8
  lw t0, 0(a0)

  /* ---- a rule change reaches accesses allowed before (with SFENCE.VMA, §3.7.2) ---- */
  SET_CFG(pmpcfg1, 4, NAPOT | 3)
  sfence.vma
  ACCESS_OK(33, MPP_S, 0x300, lw t0, 0(a0); lw t0, 0(a0); sw t0, 0(a0); sw t0, 0(a0))
  SET_CFG(pmpcfg1, 4, NAPOT | 1)
  sfence.vma
  ACCESS_FAULT(34, MPP_S, 0x300, CAUSE_STORE_ACCESS, sw zero, 0(a0))
  SET_CFG(pmpcfg1, 4, NAPOT)
  sfence.vma
  ACCESS_FAULT(35, MPP_S, 0x300, CAUSE_LOAD_ACCESS, lw t0, 0(a0))

  /* ---- X: entry 5 NAPOT 4 KiB over pmp_xpage ---- */
  NAPOT_ADDR(t0, pmp_xpage, 0x1000)
  csrw pmpaddr5, t0
  SET_CFG(pmpcfg1, 5, NAPOT | 3)
  sfence.vma
  li gp, 36
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  jal pmp_xfn
  j skiff_fail
1: CHECK_CAUSE(CAUSE_FETCH_ACCESS)
  la t1, pmp_xfn
  CHECK_EPC(pmp_xfn)
  CHECK_TVAL_REG(t1)
  CHECK_PRIV(PRV_S)
  li gp, 37                      /* M fetches it */
  li a0, 5
  jal pmp_xfn
  FAIL_IF_NE(a0, 6)
  li gp, 38                      /* and U with X */
  SET_CFG(pmpcfg1, 5, NAPOT | 4)
  sfence.vma
  li a0, 7
  GOTO_MODE(MPP_U)
  jal pmp_xfn
  GOTO_M
  FAIL_IF_NE(a0, 8)
  li gp, 39                      /* X alone does not allow loads of the same page */
  la a0, pmp_xfn
  GOTO_MODE(MPP_U)
  EXPECT_TRAP(1f)
  lw t0, 0(a0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_ACCESS)
  CHECK_TVAL_REG(a0)

  /* ---- TOR in entry 0 starts at address 0 ---- */
  li gp, 40
  SET_CFG(pmpcfg0, 0, 0)
  la t0, pmp_page + 0x800
  srli t0, t0, 2
  csrw pmpaddr0, t0
  SET_CFG(pmpcfg0, 0, TOR | RWX)
  SET_CFG(pmpcfg3, 15, 0)        /* no fallback: only [0, pmp_page + 0x800) is S/U memory */
  sfence.vma
  ACCESS_OK(41, MPP_S, 0x7fc, sw zero, 0(a0))
  ACCESS_FAULT(42, MPP_S, 0x800, CAUSE_LOAD_ACCESS, lw t0, 0(a0))

  /* ---- no entry matches: S and U fail, M does not ---- */
  li gp, 43
  SET_CFG(pmpcfg0, 0, 0)
  sfence.vma
  EXPECT_TRAP(1f)
  GOTO_MODE(MPP_S)               /* the first fetch in S faults */
  j skiff_fail
1: CHECK_CAUSE(CAUSE_FETCH_ACCESS)
  CHECK_PRIV(PRV_S)
  li gp, 44
  EXPECT_TRAP(1f)
  GOTO_MODE(MPP_U)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_FETCH_ACCESS)
  CHECK_PRIV(PRV_U)
  li gp, 45
  la a0, pmp_page + 0x300
  sw zero, 0(a0)
  SET_CFG(pmpcfg3, 15, NAPOT | RWX)
  sfence.vma

  /* ---- MPRV: M loads and stores checked as MPP's ---- */
  li gp, 46
  la a0, pmp_page + 0x300        /* entry 4: no permissions */
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPRV | MPP_S
  csrs mstatus, t0
  EXPECT_TRAP(1f)
  lw t0, 0(a0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_ACCESS)
  CHECK_TVAL_REG(a0)
  CHECK_PRIV(PRV_M)
  li gp, 47                      /* MPP = M: M's own rules, the same load succeeds */
  li t0, MSTATUS_MPRV | MPP_M
  csrs mstatus, t0
  lw t0, 0(a0)
  li gp, 48                      /* MPP = U: stores too; fetches stay M's */
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  EXPECT_TRAP(1f)
  sw zero, 0(a0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_STORE_ACCESS)
  CHECK_TVAL_REG(a0)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0

  /* ---- Sv32 walks are S-mode accesses: a PTE PMP denies is the access fault of the access ---- */
  li gp, 55
  SV32_SETUP
  SET_TEST_PTE(0, pmp_page + 0x1000, PTE_LEAF)
  li a0, WVA(0)
  GOTO_MODE(MPP_S)
  lw t0, 0(a0)
  sw t0, 0(a0)
  GOTO_M
  li gp, 56                      /* entry 10 over the level-0 table: X only, so no PTE loads */
  NAPOT_ADDR(t0, sv32_l0_test, 0x1000)
  csrw pmpaddr10, t0
  SET_CFG(pmpcfg2, 10, NAPOT | 4)
  sfence.vma
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  lw t0, 0(a0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_LOAD_ACCESS)
  CHECK_TVAL_REG(a0)
  CHECK_PRIV(PRV_S)
  li gp, 57
  GOTO_MODE(MPP_S)
  EXPECT_TRAP(1f)
  sw zero, 0(a0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_STORE_ACCESS)
  CHECK_TVAL_REG(a0)
  li gp, 58                      /* R lets the walk through (A and D are set: no PTE store) */
  SET_CFG(pmpcfg2, 10, NAPOT | 1)
  sfence.vma
  GOTO_MODE(MPP_S)
  lw t0, 0(a0)
  sw t0, 0(a0)
  GOTO_M
  SET_CFG(pmpcfg2, 10, 0)
  csrw satp, zero
  sfence.vma

  /* ---- locked entries: unwritable until reset, and M is checked against them ---- */
  li gp, 49                      /* entry 6: NAPOT 8 bytes at +0x800, R, locked (4, 5, 7 off) */
  csrw pmpcfg1, zero
  NAPOT_ADDR(t0, pmp_page + 0x800, 8)
  csrw pmpaddr6, t0
  SET_CFG(pmpcfg1, 6, LOCK | NAPOT | 1)
  sfence.vma
  la a0, pmp_page + 0x800
  lw t0, 0(a0)
  EXPECT_TRAP(1f)
  sw zero, 4(a0)
  j skiff_fail
1: CHECK_CAUSE(CAUSE_STORE_ACCESS)
  addi t1, a0, 4
  CHECK_TVAL_REG(t1)
  CHECK_PRIV(PRV_M)
  li gp, 50                      /* its config and address ignore writes; its neighbours do not */
  csrw pmpcfg1, zero
  CFG_IS(pmpcfg1, 6, LOCK | NAPOT | 1)
  CFG_IS(pmpcfg1, 4, 0)
  csrw pmpaddr6, zero
  NAPOT_ADDR(t1, pmp_page + 0x800, 8)
  csrr t0, pmpaddr6
  bne t0, t1, skiff_fail
  li t0, (NAPOT | RWX) << 16
  csrs pmpcfg1, t0
  CFG_IS(pmpcfg1, 6, LOCK | NAPOT | 1)
  /* S and U see it too */
  ACCESS_FAULT(51, MPP_U, 0x800, CAUSE_STORE_ACCESS, sw zero, 0(a0))
  li gp, 52                      /* a locked TOR entry locks the pmpaddr below it */
  la t0, pmp_page + 0x900
  srli t0, t0, 2
  csrw pmpaddr7, t0
  la t0, pmp_page + 0x910
  srli t0, t0, 2
  csrw pmpaddr8, t0
  SET_CFG(pmpcfg2, 8, LOCK | TOR | RWX)
  csrw pmpaddr7, zero
  la t1, pmp_page + 0x900
  srli t1, t1, 2
  csrr t0, pmpaddr7
  bne t0, t1, skiff_fail
  li gp, 53                      /* (entry 7 itself is not locked) */
  SET_CFG(pmpcfg1, 7, NAPOT)
  CFG_IS(pmpcfg1, 7, NAPOT)
  SET_CFG(pmpcfg1, 7, 0)
  li gp, 54                      /* a locked entry without X stops M's fetches */
  NAPOT_ADDR(t0, pmp_xpage, 0x1000)
  csrw pmpaddr9, t0
  SET_CFG(pmpcfg2, 9, LOCK | NAPOT | 1)
  sfence.vma
  EXPECT_TRAP(1f)
  jal pmp_xfn
  j skiff_fail
1: CHECK_CAUSE(CAUSE_FETCH_ACCESS)
  CHECK_EPC(pmp_xfn)
  CHECK_PRIV(PRV_M)

TEST_END

  /* Code on a page of its own, for the fetch checks: a0 += 1. */
  .section .text.pmpx, "ax", @progbits
  .balign 4096
pmp_xpage:
pmp_xfn:
  addi a0, a0, 1
  ret
  .balign 4096

  .data
  .balign 4096
pmp_page:
  .fill 1024, 4, 0
  .fill 1024, 4, 0

SV32_DATA
