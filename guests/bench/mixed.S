/* Mixed benchmark: the kinds of code a server runs, one after another, in U-mode under Sv32 as
 * user programs run: recursive calls (Fibonacci), memory and branches (quicksort of 4096 words),
 * bit-level integer work (CRC-32), and a page-table-heavy phase (words on 1024 virtual pages that
 * alias 128 frames, visited with an odd page stride, so small TLBs miss on every access). The
 * phases are in mixed.c; this file maps memory and enters U-mode. Code, data and stack run from
 * two U|R|W|X 4 MiB superpages identity-mapping the start of RAM; the checksum comes back by ECALL
 * and is verified in M-mode. About 300 million instructions. */
#include "bench.h"

#ifndef CHECKSUM
#define CHECKSUM 0x34bafc35
#endif
#define VA_BASE 0x40000000
#define VPAGES 1024
#define FRAMES 128

BENCH_BEGIN
bench_main:
  la s0, pt_root
  la s1, pt_leaf
  /* root[VPN1(VA_BASE)] -> the level-0 table */
  li t0, (VA_BASE >> 22) << 2
  add t0, s0, t0
  srli t1, s1, 12
  slli t1, t1, 10
  ori t1, t1, PTE_V
  sw t1, 0(t0)
  /* root[0x200], root[0x201]: 0x80000000 and 0x80400000 as U|R|W|X superpages */
  li t0, (0x80000000 >> 22) << 2
  add t0, s0, t0
  li t1, ((0x80000000 >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D
  sw t1, 0(t0)
  li t2, (0x400000 >> 12) << 10
  add t1, t1, t2
  sw t1, 4(t0)
  /* leaves: page v -> frame (v * 7) mod FRAMES of the buffer */
  la s2, buffer
  li t1, 0
  li t5, VPAGES
1: li t0, 7
  mul t0, t1, t0
  andi t0, t0, FRAMES - 1
  slli t0, t0, 12
  add t0, t0, s2
  srli t0, t0, 12
  slli t0, t0, 10
  ori t0, t0, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
  slli t2, t1, 2
  add t2, t2, s1
  sw t0, 0(t2)
  addi t1, t1, 1
  bne t1, t5, 1b
  srli t0, s0, 12
  li t1, SATP_SV32
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  li t0, MSTATUS_MPP
  csrc mstatus, t0           /* MPP = U */
  la t0, user_main
  csrw mepc, t0
  mret

user_main:
  la sp, user_stack_top
  call mixed_main
  ecall                      /* a0 = checksum, to bench_done in M */

BENCH_END(CHECKSUM)

  .bss
  .balign 16
  .space 16384
user_stack_top:
  .balign 4096
pt_root:
  .space 4096
pt_leaf:
  .space 4096
buffer:
  .space FRAMES * 4096
