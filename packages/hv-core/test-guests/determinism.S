# A deterministic workload for the snapshot/restore determinism test (firmware mode, M-mode):
# an LCG scribbling over a buffer, AMOs, console output through the UART, a CLINT timer
# interrupt with a data-dependent period, ecalls handled by the trap handler, and WFI.
# Never ends: the test runs it for a fixed number of instructions.
    .section .text.init
    .globl _start
_start:
    la sp, stack_top
    la t0, trap
    csrw mtvec, t0
    li s1, 0x12345678          # LCG state
    la s2, buffer
    li s3, 0                   # iteration
    li s4, 0                   # checksum
    la s5, counters
    call arm_timer
    li t0, 0x80
    csrs mie, t0               # MTIE
    csrsi mstatus, 8           # MIE
loop:
    li t0, 1103515245
    mul s1, s1, t0
    li t0, 12345
    add s1, s1, t0
    srli t1, s1, 8
    li t0, 0xfffc
    and t1, t1, t0
    add t1, t1, s2
    lw t2, 0(t1)
    add s4, s4, t2
    sw s1, 0(t1)
    amoadd.w t3, s1, (s5)
    addi s3, s3, 1
    andi t1, s3, 0x3ff
    bnez t1, 1f
    # every 1024 iterations: print a letter derived from the state
    srli t1, s1, 27
    addi t1, t1, 'a'
    li t0, 0x10000000
    sb t1, 0(t0)
    ecall                      # handled by the trap handler (mcause 11)
1:  li t0, 0x3fff
    and t1, s3, t0
    bnez t1, loop
    wfi                        # every 16384 iterations: idle until the timer
    j loop

arm_timer:                     # mtimecmp = mtime + 2000 + (state & 0x7ff)
    li t4, 0x0200bff8
    lw t5, 0(t4)
    andi t6, s1, 0x7ff
    addi t6, t6, 2000
    add t6, t5, t6
    li t4, 0x02004000
    li t5, -1
    sw t5, 4(t4)
    sw t6, 0(t4)
    sw zero, 4(t4)
    ret

    .align 4
trap:
    addi sp, sp, -16
    sw ra, 0(sp)
    sw t0, 4(sp)
    csrr t0, mcause
    bltz t0, 2f
    csrr t0, mepc              # ecall: skip it, count it
    addi t0, t0, 4
    csrw mepc, t0
    lw t0, 4(s5)
    addi t0, t0, 1
    sw t0, 4(s5)
    j 3f
2:  lw t0, 8(s5)               # timer: count, re-arm
    addi t0, t0, 1
    sw t0, 8(s5)
    li t0, 0x10000000
    li ra, '.'
    sb ra, 0(t0)
    call arm_timer
3:  lw ra, 0(sp)
    lw t0, 4(sp)
    addi sp, sp, 16
    mret

    .data
    .align 6
    .globl tohost
tohost: .dword 0
    .globl fromhost
fromhost: .dword 0
counters: .word 0, 0, 0, 0
    .bss
    .align 12
buffer: .skip 65536
    .skip 4096
stack_top:
