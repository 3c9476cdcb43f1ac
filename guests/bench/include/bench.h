/*
 * Skiff CPU benchmark guests: shared start-up and exit.
 *
 *   BENCH_BEGIN       M-mode entry at 0x80000000: zeroes registers, opens PMP for U-mode where it
 *                     exists, disarms the timer, zeroes mcycle/minstret, jumps to bench_main.
 *   BENCH_END(sum)    defines bench_done: the benchmark jumps there (M-mode) or ECALLs from U/S
 *                     with the final checksum in a0. It compares a0 with `sum` (the value the
 *                     workload must produce), stores minstret (64-bit) in `bench_result`, and
 *                     writes tohost = 1 on success or tohost = (code << 1) | 1 on failure
 *                     (2: wrong checksum, 3: unexpected trap).
 *
 * `bench_result` (8 bytes, little-endian u64) holds the number of instructions the hart retired
 * from reset to the exit sequence, as counted by minstret: on a machine with an exact instret this
 * is the guest's whole instruction count (the few instructions of the exit sequence excepted).
 *
 * Built with -DBENCH_PRINT the guest also prints "<checksum> <instret-hi> <instret-lo>" in hex
 * through the HTIF console before exiting (used to derive `sum` and the instruction count on QEMU).
 */
#ifndef BENCH_H
#define BENCH_H

#define CLINT_MTIMECMP 0x02004000
#define MSTATUS_MPP 0x00001800
#define SATP_SV32 0x80000000
#define PTE_V 0x001
#define PTE_R 0x002
#define PTE_W 0x004
#define PTE_X 0x008
#define PTE_U 0x010
#define PTE_A 0x040
#define PTE_D 0x080

#define BENCH_BEGIN                                                                             \
  .section .text.init, "ax", @progbits;                                                        \
  .globl _start;                                                                               \
_start:                                                                                        \
  li x1, 0; li x2, 0; li x3, 0; li x4, 0; li x5, 0; li x6, 0; li x7, 0; li x8, 0; li x9, 0;    \
  li x10, 0; li x11, 0; li x12, 0; li x13, 0; li x14, 0; li x15, 0; li x16, 0; li x17, 0;      \
  li x18, 0; li x19, 0; li x20, 0; li x21, 0; li x22, 0; li x23, 0; li x24, 0; li x25, 0;      \
  li x26, 0; li x27, 0; li x28, 0; li x29, 0; li x30, 0; li x31, 0;                            \
  la t0, 1f; csrw mtvec, t0;                                                                   \
  li t0, -1; csrw pmpaddr0, t0; li t0, 0x1f; csrw pmpcfg0, t0;                                 \
  .balign 4;                                                                                   \
1:                                                                                             \
  la t0, bench_trap; csrw mtvec, t0;                                                           \
  csrw mie, zero; csrw medeleg, zero; csrw mideleg, zero; csrw satp, zero;                     \
  li t0, CLINT_MTIMECMP; li t1, -1; sw t1, 4(t0); sw t1, 0(t0);                                \
  la sp, bench_stack_top;                                                                      \
  csrw minstret, zero; csrw minstreth, zero; csrw mcycle, zero; csrw mcycleh, zero;            \
  li t0, 0; li t1, 0;                                                                          \
  j bench_main;                                                                                \
  .text

#ifdef BENCH_PRINT
#define BENCH_PRINT_CODE                                                                        \
bench_putc:                                                                                    \
  la t0, tohost; li t1, 0x01010000; sw a0, 0(t0); sw t1, 4(t0); la t0, fromhost;              \
1: lw t1, 0(t0); lw t2, 4(t0); or t1, t1, t2; beqz t1, 1b; sw zero, 0(t0); sw zero, 4(t0); ret;\
bench_puthex:                                                                                  \
  mv a4, ra; li a2, 28;                                                                        \
1: srl a0, a1, a2; andi a0, a0, 15; li a3, 10; blt a0, a3, 2f; addi a0, a0, 'a' - 10 - '0';   \
2: addi a0, a0, '0'; jal bench_putc; addi a2, a2, -4; bgez a2, 1b;                            \
  li a0, ' '; jal bench_putc; mv ra, a4; ret;                                                  \
bench_print:                                                                                   \
  mv s8, ra; mv a1, s9; jal bench_puthex; mv a1, s11; jal bench_puthex; mv a1, s10;            \
  jal bench_puthex; li a0, '\n'; jal bench_putc; mv ra, s8; ret;
#define BENCH_PRINT_CALL mv s9, a0; jal bench_print; mv a0, s9
#else
#define BENCH_PRINT_CODE
#define BENCH_PRINT_CALL
#endif

#define BENCH_END(sum)                                                                          \
  .globl bench_done;                                                                           \
bench_done:                                                                                    \
1: csrr s11, minstreth; csrr s10, minstret; csrr t0, minstreth; bne s11, t0, 1b;               \
  la t0, bench_result; sw s10, 0(t0); sw s11, 4(t0);                                           \
  BENCH_PRINT_CALL;                                                                            \
  li t0, sum; li a1, (2 << 1) | 1; bne a0, t0, bench_exit;                                     \
  li a1, 1;                                                                                    \
bench_exit:                                                                                    \
  la t0, tohost; sw a1, 0(t0); sw zero, 4(t0);                                                 \
1: j 1b;                                                                                       \
  .balign 4;                                                                                   \
bench_trap:                                                                                    \
  csrr t0, mcause; li t1, 8; beq t0, t1, bench_done; li t1, 9; beq t0, t1, bench_done;         \
  li t1, 11; beq t0, t1, bench_done; li a1, (3 << 1) | 1; j bench_exit;                        \
  BENCH_PRINT_CODE                                                                             \
  .section .tohost, "aw", @progbits;                                                           \
  .balign 64; .globl tohost; tohost: .dword 0; .size tohost, 8;                                \
  .balign 64; .globl fromhost; fromhost: .dword 0; .size fromhost, 8;                          \
  .data;                                                                                       \
  .balign 8; .globl bench_result; bench_result: .dword 0; .size bench_result, 8;               \
  .bss; .balign 16; .space 4096; bench_stack_top:;                                             \
  .text

#endif
