/* Integer / branch-heavy benchmark: a xorshift32 generator driving data-dependent branches, a
 * small leaf call, shifts, compares and a multiply per round, all in registers (no memory traffic
 * in the loop). ITERATIONS rounds of ~25 instructions: about 300 million instructions.
 * Runs in M-mode; the checksum is verified at the end. */
#include "bench.h"

#ifndef ITERATIONS
#define ITERATIONS 12800000
#endif
#ifndef CHECKSUM
#define CHECKSUM 0x946ccfa8
#endif

BENCH_BEGIN
bench_main:
  li s0, 0x2545f491          /* xorshift state */
  li s1, 0                   /* accumulators */
  li s2, 0
  li s3, ITERATIONS
  li s4, 0x9e3779b9
  li s5, 0
1:
  /* xorshift32 */
  slli t0, s0, 13
  xor s0, s0, t0
  srli t0, s0, 17
  xor s0, s0, t0
  slli t0, s0, 5
  xor s0, s0, t0
  /* two data-dependent branches */
  andi t1, s0, 1
  beqz t1, 2f
  add s1, s1, s0
  j 3f
2: sub s1, s1, s0
3: andi t1, s0, 0x30
  bltu t1, s5, 4f            /* s5 = 0: never taken unsigned, but evaluated */
  srai t2, s0, 3
  slt t3, t2, s1
  add s2, s2, t3
4: /* a leaf call */
  mv a0, s1
  jal ra, mix
  xor s2, s2, a0
  addi s3, s3, -1
  bnez s3, 1b
  add a0, s1, s2
  j bench_done

/* a0 = a0 * golden + (a0 >> 7) */
mix:
  mul t4, a0, s4
  srli t5, a0, 7
  add a0, t4, t5
  ret

BENCH_END(CHECKSUM)
