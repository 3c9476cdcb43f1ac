/* Memory-heavy benchmark: a 4 MiB buffer walked by a sequential pointer (word load/add/store) and
 * a second pointer striding 4 KiB + 64 B (a different page every access: byte/halfword loads and
 * stores), PASSES times over the buffer: about 300 million instructions, half of them loads or
 * stores, every page of the buffer dirtied on every pass. Runs in M-mode (no translation); the
 * checksum is verified at the end. */
#include "bench.h"

#ifndef PASSES
#define PASSES 20
#endif
#ifndef CHECKSUM
#define CHECKSUM 0x6d4de19c
#endif
#define BUF_BYTES (4 << 20)
#define STRIDE (4096 + 64)

BENCH_BEGIN
bench_main:
  /* fill the buffer with a known pattern */
  la a0, buffer
  li t0, BUF_BYTES / 4
  li t1, 0x01234567
1: sw t1, 0(a0)
  addi t1, t1, 0x1d
  addi a0, a0, 4
  addi t0, t0, -1
  bnez t0, 1b

  li s0, 0                   /* checksum */
  li s6, PASSES
  la s4, buffer
  li s5, BUF_BYTES - 1
  li s8, STRIDE
2: mv a0, s4                 /* sequential pointer */
  li s7, 0                   /* strided offset */
  li s1, BUF_BYTES / 4
3: lw t0, 0(a0)
  add t1, s4, s7
  lw t2, 0(t1)
  add t0, t0, t2
  xor s0, s0, t0
  sw t0, 0(a0)
  lbu t3, 3(t1)
  add s0, s0, t3
  sh s0, 2(t1)
  addi a0, a0, 4
  add s7, s7, s8
  and s7, s7, s5
  addi s1, s1, -1
  bnez s1, 3b
  addi s6, s6, -1
  bnez s6, 2b
  mv a0, s0
  j bench_done

BENCH_END(CHECKSUM)

  .bss
  .balign 4096
buffer:
  .space BUF_BYTES
