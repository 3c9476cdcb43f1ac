/*
 * Sv32 test scaffolding (include after skiff_test.h).
 *
 * SV32_SETUP (M-mode) builds, in .bss page tables, and enables (satp) this address space:
 *   0x80000000-0x803fffff  identity, 4 KiB pages, V R W X A D (supervisor: S code and the runtime
 *                          run here unchanged; U code lives in .text.user pages flagged U)
 *   0x40000000-0x403fffff  "test window": level-0 table sv32_l0_test, empty; tests fill entries
 *                          with SET_TEST_PTE(i, pa, flags) for VA 0x40000000 + i * 4096
 *   0xc0000000-0xc03fffff  4 MiB superpage onto 0x80000000, V R W X A D
 * M-mode is never translated, so the M trap handler and every check keep working; traps resume
 * in M through EXPECT_TRAP as usual. SFENCE is issued by the macros that change a mapping.
 *
 * U code goes between USER_CODE_BEGIN / USER_CODE_END: section .text.user, which link.ld places
 * on its own pages between sv32_user_begin and sv32_user_end (flagged U by SV32_SETUP);
 * RUN_U(label) runs such a fragment in U-mode and comes back to M when it ends with USER_RETURN.
 */
#ifndef SV32_H
#define SV32_H

#define WINDOW_VA 0x40000000
#define SUPER_VA  0xc0000000
#define RAM_PA    0x80000000
#define PTE_LEAF (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define WVA(i) (WINDOW_VA + (i) * 4096)

/* sv32_l0_test[i] = PTE(pa in register-free form: an address expression), then SFENCE.VMA */
#define SET_TEST_PTE(i, pa, flags)                                                              \
  la t5, pa; srli t5, t5, 12; slli t5, t5, 10; ori t5, t5, (flags) & 0x3ff;                    \
  la t6, sv32_l0_test; sw t5, 4 * (i)(t6); sfence.vma
/* ... with a raw PTE value */
#define SET_TEST_PTE_RAW(i, value)                                                              \
  li t5, value; la t6, sv32_l0_test; sw t5, 4 * (i)(t6); sfence.vma
/* root[vpn1] = raw value */
#define SET_ROOT_RAW(vpn1, value)                                                               \
  li t5, value; la t6, sv32_root + 4 * (vpn1); sw t5, 0(t6); sfence.vma
/* Flags of the identity PTE for the page holding `label`. */
#define SET_ID_FLAGS(label, flags)                                                              \
  la t5, label; li t6, RAM_PA; sub t5, t5, t6; srli t5, t5, 12; slli t5, t5, 2;                \
  la t6, sv32_l0_id; add t6, t6, t5; lw t5, 0(t6); srli t5, t5, 10; slli t5, t5, 10;           \
  ori t5, t5, flags; sw t5, 0(t6); sfence.vma

#define SV32_SETUP                                                                              \
  la t0, sv32_l0_id; li t1, ((RAM_PA >> 12) << 10) | PTE_LEAF; li t2, 1024; li t3, 1 << 10;    \
  90: sw t1, 0(t0); addi t0, t0, 4; add t1, t1, t3; addi t2, t2, -1; bnez t2, 90b;             \
  la t0, sv32_root; li t2, 2048; 91: sw zero, 0(t0); addi t0, t0, 4; addi t2, t2, -1;          \
  bnez t2, 91b; /* root and test table are adjacent: both cleared */                           \
  la t0, sv32_root + 4 * (RAM_PA >> 22);                                                       \
  la t1, sv32_l0_id; srli t1, t1, 12; slli t1, t1, 10; ori t1, t1, PTE_V; sw t1, 0(t0);        \
  la t0, sv32_root + 4 * (WINDOW_VA >> 22);                                                    \
  la t1, sv32_l0_test; srli t1, t1, 12; slli t1, t1, 10; ori t1, t1, PTE_V; sw t1, 0(t0);      \
  la t0, sv32_root + 4 * (SUPER_VA >> 22);                                                     \
  li t1, ((RAM_PA >> 12) << 10) | PTE_LEAF; sw t1, 0(t0);                                      \
  la t0, sv32_user_begin; la t1, sv32_user_end;                                                \
  92: bgeu t0, t1, 93f; SET_ID_FLAGS_REG(t0, PTE_LEAF | PTE_U); li t2, 4096; add t0, t0, t2;   \
  j 92b; 93:                                                                                   \
  la t0, sv32_root; srli t0, t0, 12; li t1, SATP_SV32; or t0, t0, t1; csrw satp, t0;           \
  sfence.vma

/* identity PTE flags for the page at address in reg (reg preserved; t5, t6, t3 clobbered) */
#define SET_ID_FLAGS_REG(reg, flags)                                                            \
  li t6, RAM_PA; sub t5, reg, t6; srli t5, t5, 12; slli t5, t5, 2; la t6, sv32_l0_id;          \
  add t6, t6, t5; lw t5, 0(t6); srli t5, t5, 10; slli t5, t5, 10; ori t5, t5, flags;           \
  sw t5, 0(t6)

#define USER_CODE_BEGIN .section .text.user, "ax", @progbits; .balign 4096
#define USER_CODE_END .balign 4096; .text
/* End of a U fragment: back to M, then to the instruction after RUN_U (ra). */
#define USER_RETURN li a7, SKIFF_TO_M; ecall; jr ra
#define RUN_U(label)                                                                            \
  la ra, 96f; li t5, MSTATUS_MPP; csrc mstatus, t5; la t5, label; csrw mepc, t5; mret; 96:

/* Page tables (.bss, page aligned; the runtime's .bss follows). */
#define SV32_DATA                                                                               \
  .bss; .balign 4096;                                                                          \
  sv32_root: .space 4096;                                                                      \
  sv32_l0_test: .space 4096;                                                                   \
  sv32_l0_id: .space 4096;                                                                     \
  .text

#endif
