/*
 * Skiff ISA tests: shared definitions, test-case macros and the M/S-mode runtime.
 *
 * A test file looks like
 *     #include "skiff_test.h"
 *     TEST_BEGIN
 *       TEST_RR(2, add, 3, 1, 2)
 *       ...
 *     TEST_END
 *
 * Conventions
 *   gp (x3)      current test number; a failure reports it as tohost = (gp << 1) | 1.
 *   t5, t6       scratch for the macros below: test bodies must not keep live values there
 *                across a macro.
 *   labels 90-99 reserved for macros; test bodies use 1-89.
 *   Every trap goes to skiff_mtrap (M) or skiff_strap (S, when delegated). A trap announced with
 *   EXPECT_TRAP(label) is recorded in skiff_trap (cause, epc, tval, previous privilege, handler
 *   mode, count) and resumes at `label` in the handler's own mode (M for skiff_mtrap, S for
 *   skiff_strap). Any other trap fails the current test, except the mode-switch ecall GOTO_M
 *   (a7 = SKIFF_TO_M), which is recognised first: tests that expect an ECALL clear a7.
 *   Tests that need their own trap behaviour put a hook address in skiff_trap + TR_MHOOK/TR_SHOOK:
 *   the handler jumps there after recording, with t0 = cause, t1 = &skiff_trap, sp = trap stack,
 *   and the hook returns through skiff_mtrap_ret / skiff_strap_ret (t0-t2 and a0 are restored),
 *   or hands the trap back to the default handling at skiff_mtrap_nohook / skiff_strap_nohook.
 *   HTIF: pass writes 1 to tohost, fail writes (testnum << 1) | 1, low word first then the high
 *   word (QEMU acts on the high-word write).
 *   Signature: a test that defines SKIFF_SIGN before the include stores each checked result with
 *   SIG_PUT into [begin_signature, end_signature); its size is counted at assembly time and the
 *   test fails if the run did not fill it exactly.
 *
 * Build with -DSKIFF_DUMP for the QEMU reference variant: on pass it prints the signature words
 * through the HTIF console (8 hex digits a line), on fail the last trap's cause, epc and tval.
 *
 * A test that needs the PLIC and the UART defines SKIFF_VIRT before the include. QEMU's spike
 * machine has neither, so check-qemu.sh runs such a test (it has the symbol skiff_virt) on QEMU's
 * virt machine, which has no HTIF: there the runtime ends through the SiFive test finisher
 * (0x5555 = pass, test << 16 | 0x3333 = fail; QEMU exits with the test number) and the dump
 * variant prints through the UART. Skiff's firmware mode has the PLIC, the UART and HTIF.
 */
#ifndef SKIFF_TEST_H
#define SKIFF_TEST_H

/* ---- mstatus / sstatus ---- */
#define MSTATUS_SIE  0x00000002
#define MSTATUS_MIE  0x00000008
#define MSTATUS_SPIE 0x00000020
#define MSTATUS_UBE  0x00000040
#define MSTATUS_MPIE 0x00000080
#define MSTATUS_SPP  0x00000100
#define MSTATUS_VS   0x00000600
#define MSTATUS_MPP  0x00001800
#define MSTATUS_FS   0x00006000
#define MSTATUS_XS   0x00018000
#define MSTATUS_MPRV 0x00020000
#define MSTATUS_SUM  0x00040000
#define MSTATUS_MXR  0x00080000
#define MSTATUS_TVM  0x00100000
#define MSTATUS_TW   0x00200000
#define MSTATUS_TSR  0x00400000
#define MSTATUS_SD   0x80000000
#define MPP_U 0x0000
#define MPP_S 0x0800
#define MPP_M 0x1800

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* ---- exception causes ---- */
#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL          2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U          8
#define CAUSE_ECALL_S          9
#define CAUSE_ECALL_M          11
#define CAUSE_FETCH_PAGE       12
#define CAUSE_LOAD_PAGE        13
#define CAUSE_STORE_PAGE       15
#define CAUSE_INTR             0x80000000

/* ---- interrupts ---- */
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define MIP_SSIP (1 << IRQ_SSI)
#define MIP_MSIP (1 << IRQ_MSI)
#define MIP_STIP (1 << IRQ_STI)
#define MIP_MTIP (1 << IRQ_MTI)
#define MIP_SEIP (1 << IRQ_SEI)
#define MIP_MEIP (1 << IRQ_MEI)

/* ---- CLINT (same addresses on QEMU spike/virt and Skiff) ---- */
#define CLINT_MSIP     0x02000000
#define CLINT_MTIMECMP 0x02004000
#define CLINT_MTIME    0x0200BFF8

/* ---- PLIC, ns16550a UART (QEMU virt and Skiff; not on QEMU spike) ---- */
#define PLIC_PRIORITY  0x0C000000 /* + 4 * source */
#define PLIC_PENDING   0x0C001000
#define PLIC_ENABLE    0x0C002000 /* + 0x80 * context */
#define PLIC_THRESHOLD 0x0C200000 /* + 0x1000 * context; claim/complete at + 4 */
#define PLIC_CTX_M 0              /* hart 0 M-mode: MEIP */
#define PLIC_CTX_S 1              /* hart 0 S-mode: SEIP */
#define UART_BASE 0x10000000
#define UART_IER  (UART_BASE + 1)
#define UART_IIR  (UART_BASE + 2)
#define UART_LSR  (UART_BASE + 5)
#define UART_IRQ  10
#define SIFIVE_TEST 0x00100000    /* QEMU virt's test finisher */

/* Physical addresses with nothing behind them on Skiff and QEMU spike: access faults. */
#define UNMAPPED_PA  0x40000000
#define UNMAPPED_PA2 0x60000000

/* ---- Sv32 ---- */
#define PTE_V 0x001
#define PTE_R 0x002
#define PTE_W 0x004
#define PTE_X 0x008
#define PTE_U 0x010
#define PTE_G 0x020
#define PTE_A 0x040
#define PTE_D 0x080
#define SATP_SV32 0x80000000
/* PTE for physical address pa (page number in bits 31:10). */
#define PTE(pa, flags) ((((pa) >> 12) << 10) | (flags))

/* ---- runtime record layout (skiff_trap) ---- */
#define TR_CAUSE   0
#define TR_EPC     4
#define TR_TVAL    8
#define TR_PRIV    12 /* privilege the trap came from (MPP/SPP) */
#define TR_HANDLER 16 /* 3 = taken in M, 1 = taken in S */
#define TR_COUNT   20
#define TR_EXPECT  24
#define TR_RESUME  28
#define TR_MHOOK   32
#define TR_SHOOK   36
#define TR_STATUS  40 /* mstatus (or sstatus) as the handler found it */
#define TR_SIZE    44

/* a7 value for an ecall that asks the M-mode handler to continue after it in M-mode. */
#define SKIFF_TO_M 0x5a4d0001

/* ------------------------------------------------------------------------------------------ */
/* Checks                                                                                     */
/* ------------------------------------------------------------------------------------------ */

#define FAIL_IF_NE(reg, val) li t6, val; bne reg, t6, skiff_fail
#define FAIL_IF_EQ(reg, val) li t6, val; beq reg, t6, skiff_fail

#ifdef SKIFF_SIGN
#define SIG_PUT(reg)                                                                            \
  .set skiff_sig_count, skiff_sig_count + 1;                                                   \
  la t5, skiff_sig_ptr; lw t6, 0(t5); sw reg, 0(t6); addi t6, t6, 4; sw t6, 0(t5)
#else
#define SIG_PUT(reg)
#endif

/* Branch to label when running on the QEMU 7.2 reference, for its documented departures from the
 * spec only (each use says which); every other machine takes the strict path. */
#define IF_QEMU(label) la t5, skiff_qemu; lw t5, 0(t5); bnez t5, label

/* Generic: run code, then compare reg with the expected value. */
#define TEST_CASE(n, reg, expected, ...)                                                        \
  li gp, n; __VA_ARGS__; li t6, expected; bne reg, t6, skiff_fail

/* Load a 32-bit word from symbol/address into reg and compare. */
#define CHECK_WORD(addr, expected) la t5, addr; lw t5, 0(t5); FAIL_IF_NE(t5, expected)

/* Register-register and register-immediate ALU forms (result in x14, signed). */
#define TEST_RR(n, inst, result, v1, v2)                                                        \
  li gp, n; li x1, v1; li x2, v2; inst x14, x1, x2; li x7, result; bne x14, x7, skiff_fail;    \
  SIG_PUT(x14)
#define TEST_RI(n, inst, result, v1, imm)                                                       \
  li gp, n; li x1, v1; inst x14, x1, imm; li x7, result; bne x14, x7, skiff_fail; SIG_PUT(x14)
/* rd == rs1, rd == rs2, rd == rs1 == rs2 */
#define TEST_RR_SRC1_EQ_DEST(n, inst, result, v1, v2)                                           \
  li gp, n; li x1, v1; li x2, v2; inst x1, x1, x2; li x7, result; bne x1, x7, skiff_fail
#define TEST_RR_SRC2_EQ_DEST(n, inst, result, v1, v2)                                           \
  li gp, n; li x1, v1; li x2, v2; inst x2, x1, x2; li x7, result; bne x2, x7, skiff_fail
#define TEST_RR_SRC12_EQ_DEST(n, inst, result, v1)                                              \
  li gp, n; li x1, v1; inst x1, x1, x1; li x7, result; bne x1, x7, skiff_fail
#define TEST_RI_SRC1_EQ_DEST(n, inst, result, v1, imm)                                          \
  li gp, n; li x1, v1; inst x1, x1, imm; li x7, result; bne x1, x7, skiff_fail
/* x0 as destination stays zero; x0 as source reads zero. */
#define TEST_RR_ZERO_DEST(n, inst, v1, v2)                                                      \
  li gp, n; li x1, v1; li x2, v2; inst x0, x1, x2; bnez x0, skiff_fail; mv x14, x0;          \
  bnez x14, skiff_fail
#define TEST_RI_ZERO_DEST(n, inst, v1, imm)                                                     \
  li gp, n; li x1, v1; inst x0, x1, imm; bnez x0, skiff_fail; mv x14, x0; bnez x14, skiff_fail
#define TEST_RR_ZERO_SRC1(n, inst, result, v2)                                                  \
  li gp, n; li x2, v2; inst x14, x0, x2; li x7, result; bne x14, x7, skiff_fail
#define TEST_RR_ZERO_SRC2(n, inst, result, v1)                                                  \
  li gp, n; li x1, v1; inst x14, x1, x0; li x7, result; bne x14, x7, skiff_fail
/* Back-to-back dependent use (forwarding paths in pipelined or cached implementations). */
#define TEST_RR_CHAIN(n, inst, result, v1, v2)                                                  \
  li gp, n; li x1, v1; li x2, v2; inst x14, x1, x2; inst x14, x14, x0; mv x15, x14;            \
  li x7, result; bne x15, x7, skiff_fail

/* Branches: taken must jump forward and backward, not-taken must fall through. */
#define TEST_BR_TAKEN(n, inst, v1, v2)                                                          \
  li gp, n; li x1, v1; li x2, v2; inst x1, x2, 92f; j skiff_fail;                              \
  91: j 93f; 92: inst x1, x2, 91b; j skiff_fail; 93:
#define TEST_BR_NOT_TAKEN(n, inst, v1, v2)                                                      \
  li gp, n; li x1, v1; li x2, v2; inst x1, x2, skiff_fail; 91: inst x1, x2, 91b

/* Loads: from base+offset, expect value. */
#define TEST_LD(n, inst, result, offset, base)                                                  \
  li gp, n; la x1, base; inst x14, offset(x1); li x7, result; bne x14, x7, skiff_fail;         \
  SIG_PUT(x14)
/* Store then load back with the given load instruction. */
#define TEST_ST(n, ld, st, value, offset, base)                                                 \
  li gp, n; la x1, base; li x2, value; st x2, offset(x1); ld x14, offset(x1);                  \
  bne x14, x2, skiff_fail; SIG_PUT(x14)

/* ------------------------------------------------------------------------------------------ */
/* Traps and privilege                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Announce that the next trap is intended; the handler resumes at `label`. */
#define EXPECT_TRAP(label)                                                                      \
  la t5, skiff_trap; la t6, label; sw t6, TR_RESUME(t5); li t6, 1; sw t6, TR_EXPECT(t5)
/* Check the recorded trap. */
#define CHECK_CAUSE(c)   la t5, skiff_trap; lw t5, TR_CAUSE(t5); FAIL_IF_NE(t5, c)
#define CHECK_TVAL(v)    la t5, skiff_trap; lw t5, TR_TVAL(t5); FAIL_IF_NE(t5, v)
#define CHECK_TVAL_REG(r) la t5, skiff_trap; lw t5, TR_TVAL(t5); bne t5, r, skiff_fail
#define CHECK_EPC(label) la t5, skiff_trap; lw t5, TR_EPC(t5); la t6, label; bne t5, t6, skiff_fail
#define CHECK_PRIV(p)    la t5, skiff_trap; lw t5, TR_PRIV(t5); FAIL_IF_NE(t5, p)
/* (recorded status & mask) == value */
#define CHECK_STATUS(mask, value)                                                               \
  la t5, skiff_trap; lw t5, TR_STATUS(t5); li t6, mask; and t5, t5, t6; FAIL_IF_NE(t5, value)
#define CHECK_HANDLER(p) la t5, skiff_trap; lw t5, TR_HANDLER(t5); FAIL_IF_NE(t5, p)
/* Fail if the test's announced trap was not taken (EXPECT flag still set). */
#define CHECK_NO_PENDING_EXPECT la t5, skiff_trap; lw t5, TR_EXPECT(t5); bnez t5, skiff_fail
#define CLEAR_EXPECT la t5, skiff_trap; sw zero, TR_EXPECT(t5)
#define SET_MHOOK(label) la t5, skiff_trap; la t6, label; sw t6, TR_MHOOK(t5)
#define CLEAR_MHOOK la t5, skiff_trap; sw zero, TR_MHOOK(t5)
#define SET_SHOOK(label) la t5, skiff_trap; la t6, label; sw t6, TR_SHOOK(t5)
#define CLEAR_SHOOK la t5, skiff_trap; sw zero, TR_SHOOK(t5)

/* Run `code`; it must trap with cause c, the trap's epc must be the label `at` placed in code
 * (pass 0 to skip the epc check), and execution continues after the macro in M-mode. */
#define TEST_TRAP(n, c, ...)                                                                    \
  li gp, n; EXPECT_TRAP(99f); __VA_ARGS__; j skiff_fail; 99: CHECK_CAUSE(c)

/* The trap handlers keep their stack pointers in mscratch/sscratch: tests that use those CSRs
 * put them back before anything can trap. */
#define RESTORE_SCRATCH                                                                         \
  la t5, skiff_mstack_top; csrw mscratch, t5; la t5, skiff_sstack_top; csrw sscratch, t5

/* From M-mode, continue at the next instruction in privilege mode `mpp` (MPP_U/MPP_S/MPP_M). */
#define GOTO_MODE(mpp)                                                                          \
  li t5, MSTATUS_MPP; csrc mstatus, t5; li t5, mpp; csrs mstatus, t5; la t5, 98f;              \
  csrw mepc, t5; mret; 98:
/* From any mode (ecall not delegated), continue at the next instruction in M-mode. Clobbers a7. */
#define GOTO_M li a7, SKIFF_TO_M; ecall
/* From S-mode, continue at the next instruction in U-mode. */
#define SRET_TO_U                                                                               \
  li t5, MSTATUS_SPP; csrc sstatus, t5; la t5, 97f; csrw sepc, t5; sret; 97:

/* ------------------------------------------------------------------------------------------ */
/* Entry and runtime                                                                          */
/* ------------------------------------------------------------------------------------------ */

#define TEST_BEGIN                                                                              \
  .set skiff_sig_count, 0;                                                                     \
  .section .text.init, "ax", @progbits;                                                        \
  .globl _start;                                                                               \
_start:                                                                                        \
  j skiff_reset;                                                                               \
skiff_reset:                                                                                   \
  SKIFF_ZERO_REGS;                                                                             \
  /* PMP: grant S/U access to everything where PMP exists (QEMU); skip if the CSRs trap. */    \
  la t0, 1f; csrw mtvec, t0;                                                                   \
  li t0, -1; csrw pmpaddr0, t0; li t0, 0x1f; csrw pmpcfg0, t0;                                 \
  .balign 4;                                                                                   \
1:                                                                                             \
  la t0, skiff_mtrap; csrw mtvec, t0;                                                          \
  la t0, skiff_mstack_top; csrw mscratch, t0;                                                  \
  la t0, skiff_sstack_top; csrw sscratch, t0;                                                  \
  la t0, skiff_strap; csrw stvec, t0;                                                          \
  csrw medeleg, zero; csrw mideleg, zero; csrw mie, zero; csrw mip, zero; csrw satp, zero;     \
  /* no timer interrupt pending until a test arms one (QEMU resets mtimecmp to 0) */           \
  li t0, CLINT_MTIMECMP; li t1, -1; sw t1, 4(t0); sw t1, 0(t0);                                \
  li t0, CLINT_MSIP; sw zero, 0(t0);                                                           \
  li t0, MSTATUS_MPP; csrs mstatus, t0; /* MPP = M: a bare mret stays in M */                  \
  li t0, MSTATUS_MIE | MSTATUS_SIE | MSTATUS_MPRV; csrc mstatus, t0;                           \
  la sp, skiff_stack_top;                                                                      \
  /* QEMU 7.2 (marchid = mimpid = 0x0702xx) departs from the spec in a few places; see IF_QEMU. */\
  csrr t0, marchid; csrr t1, mimpid; bne t0, t1, 2f; srli t0, t0, 8; li t1, 0x702;             \
  bne t0, t1, 2f; la t0, skiff_qemu; li t1, 1; sw t1, 0(t0);                                   \
2:                                                                                             \
  li t0, 0; li t1, 0; li gp, 0;                                                                \
  j skiff_body;                                                                                \
  .text;                                                                                       \
skiff_body:

#define SKIFF_ZERO_REGS                                                                         \
  li x1, 0; li x2, 0; li x3, 0; li x4, 0; li x5, 0; li x6, 0; li x7, 0; li x8, 0; li x9, 0;    \
  li x10, 0; li x11, 0; li x12, 0; li x13, 0; li x14, 0; li x15, 0; li x16, 0; li x17, 0;      \
  li x18, 0; li x19, 0; li x20, 0; li x21, 0; li x22, 0; li x23, 0; li x24, 0; li x25, 0;      \
  li x26, 0; li x27, 0; li x28, 0; li x29, 0; li x30, 0; li x31, 0

#ifdef SKIFF_VIRT
/* a0 = char; clobbers t0-t1. UART putchar (waits for THRE). */
#define SKIFF_PUTC_CODE                                                                         \
skiff_putc:                                                                                    \
  li t0, UART_BASE; 1: lbu t1, 5(t0); andi t1, t1, 0x20; beqz t1, 1b; sb a0, 0(t0); ret;
/* On QEMU (virt): end through the test finisher instead of HTIF. a0 = tohost value. */
#define SKIFF_VIRT_EXIT                                                                         \
  la t0, skiff_qemu; lw t0, 0(t0); beqz t0, 4f; li t1, 0x5555; li t2, 1; beq a0, t2, 3f;      \
  srli t1, a0, 1; slli t1, t1, 16; li t2, 0x3333; or t1, t1, t2;                               \
3: li t0, SIFIVE_TEST; sw t1, 0(t0);                                                           \
4:
#define SKIFF_VIRT_DATA .globl skiff_virt; skiff_virt: .word 1;
#else
/* a0 = char; clobbers t0-t2. HTIF console putchar, waits for the host's answer. */
#define SKIFF_PUTC_CODE                                                                         \
skiff_putc:                                                                                    \
  la t0, tohost; li t1, 0x01010000; sw a0, 0(t0); sw t1, 4(t0);                                \
  la t0, fromhost;                                                                             \
1: lw t1, 0(t0); lw t2, 4(t0); or t1, t1, t2; beqz t1, 1b;                                    \
  sw zero, 0(t0); sw zero, 4(t0); ret;
#define SKIFF_VIRT_EXIT
#define SKIFF_VIRT_DATA
#endif

#ifdef SKIFF_DUMP
#define SKIFF_DUMP_CODE                                                                         \
  SKIFF_PUTC_CODE                                                                              \
/* a1 = word; prints 8 hex digits and a newline; clobbers a0, a2, a3, t0-t2, ra saved in a4 */ \
skiff_puthex:                                                                                  \
  mv a4, ra; li a2, 28;                                                                        \
1: srl a0, a1, a2; andi a0, a0, 15; li a3, 10; blt a0, a3, 2f; addi a0, a0, 'a' - 10 - '0';   \
2: addi a0, a0, '0'; jal skiff_putc; addi a2, a2, -4; bgez a2, 1b;                            \
  li a0, '\n'; jal skiff_putc; mv ra, a4; ret;                                                 \
skiff_dump:                                                                                    \
  mv s0, a0; beq a0, zero, 3f; li t0, 1; bne a0, t0, 2f;                                       \
  la s1, skiff_sig_begin; la s2, skiff_sig_end;                                                \
1: bgeu s1, s2, 3f; lw a1, 0(s1); jal skiff_puthex; addi s1, s1, 4; j 1b;                     \
2: la s1, skiff_trap; li a0, 'T'; jal skiff_putc; li a0, '\n'; jal skiff_putc;                \
  lw a1, TR_CAUSE(s1); jal skiff_puthex; lw a1, TR_EPC(s1); jal skiff_puthex;                  \
  lw a1, TR_TVAL(s1); jal skiff_puthex; lw a1, TR_COUNT(s1); jal skiff_puthex;                 \
3: mv a0, s0; j skiff_write_tohost;
#define SKIFF_EXIT_JUMP j skiff_dump
#else
#define SKIFF_DUMP_CODE
#define SKIFF_EXIT_JUMP j skiff_write_tohost
#endif

#define TEST_END                                                                                \
  li gp, 0x3fe;                                                                                \
  la t0, skiff_sig_ptr; lw t0, 0(t0); la t1, skiff_sig_end; bne t0, t1, skiff_fail;            \
  j skiff_pass;                                                                                \
  .balign 64;                                                                                  \
  .globl skiff_mtrap;                                                                          \
skiff_mtrap:                                                                                   \
  csrrw sp, mscratch, sp;                                                                      \
  sw t0, -4(sp); sw t1, -8(sp); sw t2, -12(sp); sw a0, -16(sp);                                \
  la t1, skiff_trap;                                                                           \
  csrr t0, mcause; sw t0, TR_CAUSE(t1);                                                        \
  csrr t2, mepc; sw t2, TR_EPC(t1);                                                            \
  csrr t2, mtval; sw t2, TR_TVAL(t1);                                                          \
  csrr t2, mstatus; sw t2, TR_STATUS(t1); srli t2, t2, 11; andi t2, t2, 3; sw t2, TR_PRIV(t1);  \
  li t2, PRV_M; sw t2, TR_HANDLER(t1);                                                         \
  lw t2, TR_COUNT(t1); addi t2, t2, 1; sw t2, TR_COUNT(t1);                                    \
  lw t2, TR_MHOOK(t1); beqz t2, skiff_mtrap_nohook; jr t2;                                     \
  .globl skiff_mtrap_nohook;                                                                   \
skiff_mtrap_nohook:                                                                            \
  /* the mode-switch ecall first: it may come while a trap is announced (U fragments) */       \
  li t2, SKIFF_TO_M; bne a7, t2, 2f;                                                           \
  li t2, CAUSE_ECALL_U; beq t0, t2, 3f;                                                        \
  li t2, CAUSE_ECALL_S; beq t0, t2, 3f;                                                        \
  li t2, CAUSE_ECALL_M; beq t0, t2, 3f;                                                        \
2: lw t2, TR_EXPECT(t1); beqz t2, skiff_unexpected;                                           \
  sw zero, TR_EXPECT(t1); lw t2, TR_RESUME(t1); csrw mepc, t2;                                 \
  li t2, MSTATUS_MPP; csrs mstatus, t2; j skiff_mtrap_ret;                                     \
3: csrr t2, mepc; addi t2, t2, 4; csrw mepc, t2;                                              \
  li t2, MSTATUS_MPP; csrs mstatus, t2;                                                        \
  .globl skiff_mtrap_ret;                                                                      \
skiff_mtrap_ret:                                                                               \
  lw a0, -16(sp); lw t2, -12(sp); lw t1, -8(sp); lw t0, -4(sp);                                \
  csrrw sp, mscratch, sp; mret;                                                                \
  .balign 64;                                                                                  \
  .globl skiff_strap;                                                                          \
skiff_strap:                                                                                   \
  csrrw sp, sscratch, sp;                                                                      \
  sw t0, -4(sp); sw t1, -8(sp); sw t2, -12(sp); sw a0, -16(sp);                                \
  la t1, skiff_trap;                                                                           \
  csrr t0, scause; sw t0, TR_CAUSE(t1);                                                        \
  csrr t2, sepc; sw t2, TR_EPC(t1);                                                            \
  csrr t2, stval; sw t2, TR_TVAL(t1);                                                          \
  csrr t2, sstatus; sw t2, TR_STATUS(t1); srli t2, t2, 8; andi t2, t2, 1; sw t2, TR_PRIV(t1);   \
  li t2, PRV_S; sw t2, TR_HANDLER(t1);                                                         \
  lw t2, TR_COUNT(t1); addi t2, t2, 1; sw t2, TR_COUNT(t1);                                    \
  lw t2, TR_SHOOK(t1); beqz t2, skiff_strap_nohook; jr t2;                                     \
  .globl skiff_strap_nohook;                                                                   \
skiff_strap_nohook:                                                                            \
  lw t2, TR_EXPECT(t1); beqz t2, skiff_unexpected;                                             \
  sw zero, TR_EXPECT(t1); lw t2, TR_RESUME(t1); csrw sepc, t2;                                 \
  li t2, MSTATUS_SPP; csrs sstatus, t2;                                                        \
  .globl skiff_strap_ret;                                                                      \
skiff_strap_ret:                                                                               \
  lw a0, -16(sp); lw t2, -12(sp); lw t1, -8(sp); lw t0, -4(sp);                                \
  csrrw sp, sscratch, sp; sret;                                                                \
skiff_unexpected:                                                                              \
  j skiff_fail;                                                                                \
  .globl skiff_pass;                                                                           \
skiff_pass:                                                                                    \
  li a0, 1; SKIFF_EXIT_JUMP;                                                                   \
  .globl skiff_fail;                                                                           \
skiff_fail:                                                                                    \
  slli a0, gp, 1; ori a0, a0, 1; li t0, 1; bne a0, t0, 1f; li a0, 0x7ff;                       \
1: SKIFF_EXIT_JUMP;                                                                           \
skiff_write_tohost:                                                                            \
  SKIFF_VIRT_EXIT                                                                              \
  la t0, tohost; sw a0, 0(t0); sw zero, 4(t0);                                                 \
1: j 1b;                                                                                      \
  SKIFF_DUMP_CODE                                                                              \
  .section .tohost, "aw", @progbits;                                                           \
  .balign 64; .globl tohost; tohost: .dword 0; .size tohost, 8;                                \
  .balign 64; .globl fromhost; fromhost: .dword 0; .size fromhost, 8;                          \
  .data;                                                                                       \
  .balign 64;                                                                                  \
  .globl skiff_trap;                                                                           \
skiff_trap: .fill TR_SIZE / 4, 4, 0;                                                           \
  .globl skiff_qemu;                                                                           \
skiff_qemu: .word 0;                                                                           \
  SKIFF_VIRT_DATA                                                                              \
skiff_sig_ptr: .word skiff_sig_begin;                                                          \
  .balign 16;                                                                                  \
skiff_sig_begin:                                                                               \
  .if skiff_sig_count > 0; .globl begin_signature; begin_signature:; .endif;                    \
  .fill skiff_sig_count, 4, 0xdeadbeef;                                                        \
skiff_sig_end:                                                                                 \
  .if skiff_sig_count > 0; .globl end_signature; end_signature:; .endif;                        \
  .balign 16;                                                                                  \
  .bss;                                                                                        \
  .balign 16;                                                                                  \
  .space 1024; skiff_stack_top:                                                                \
  .space 256; skiff_mstack_top:                                                                \
  .space 256; skiff_sstack_top:                                                                \
  .text

#endif
