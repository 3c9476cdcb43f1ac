/* Page-table-heavy benchmark: U-mode under Sv32. 8192 virtual 4 KiB pages (32 MiB at 0x40000000,
 * U|R|W, A and D preset) alias 1024 physical frames of a 4 MiB buffer in a scrambled order; the
 * loop visits the pages with an odd page stride, so every access lands on a different page than
 * the previous 8191: any TLB smaller than that misses on every load/store pair. Code and data run
 * from a U|R|W|X 4 MiB superpage identity-mapping the start of RAM. ITERATIONS rounds of 12
 * instructions: about 300 million. The checksum is returned by ECALL and verified in M-mode. */
#include "bench.h"

#ifndef ITERATIONS
#define ITERATIONS 25000000
#endif
#ifndef CHECKSUM
#define CHECKSUM 0x27673e55
#endif
#define VA_BASE 0x40000000
#define VPAGES 8192
#define FRAMES 1024
#define PAGE_STRIDE 2053           /* odd: cycles through all 8192 pages */

BENCH_BEGIN
bench_main:
  /* root: VA_BASE .. +32 MiB -> eight level-0 tables; 0x80000000 -> 4 MiB superpage */
  la s0, pt_root
  la s1, pt_leaf
  li t0, VA_BASE >> 22
  slli t0, t0, 2
  add t0, s0, t0             /* &root[VPN1(VA_BASE)] */
  li t1, 8
  mv t2, s1
1: srli t3, t2, 12
  slli t3, t3, 10
  ori t3, t3, PTE_V
  sw t3, 0(t0)
  addi t0, t0, 4
  li t4, 4096
  add t2, t2, t4
  addi t1, t1, -1
  bnez t1, 1b
  li t0, 0x80000000 >> 22
  slli t0, t0, 2
  add t0, s0, t0
  li t3, ((0x80000000 >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D
  sw t3, 0(t0)
  /* leaves: page v -> frame (v * 7) mod 1024 of the buffer */
  la s2, buffer
  li t1, 0                   /* v */
  li t5, VPAGES
2: li t0, 7
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
  bne t1, t5, 2b
  /* satp, then MRET to U */
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
  li s0, 0x5bd1e995          /* checksum */
  li s1, ITERATIONS
  li s2, 0                   /* byte offset into the 32 MiB window */
  li s3, PAGE_STRIDE * 4096 + 8
  li s4, VA_BASE
  li s5, VPAGES * 4096 - 1
3: add s2, s2, s3
  and s2, s2, s5
  add t0, s4, s2
  lw t1, 0(t0)
  add t1, t1, s1             /* stored value depends on the round */
  sw t1, 0(t0)
  xor s0, s0, t1
  slli t2, s0, 5
  add s0, s0, t2             /* s0 * 33 */
  addi s0, s0, 1
  addi s1, s1, -1
  bnez s1, 3b
  mv a0, s0
  ecall                      /* to bench_done in M */

BENCH_END(CHECKSUM)

  .bss
  .balign 4096
pt_root:
  .space 4096
pt_leaf:
  .space 8 * 4096
  .balign 4096
buffer:
  .space FRAMES * 4096
