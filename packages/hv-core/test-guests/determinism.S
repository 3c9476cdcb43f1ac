# A deterministic workload for the snapshot/restore determinism test (firmware mode). Never ends:
# the test runs it for a fixed number of instructions.
#
# Phase 1, M-mode, bare: an LCG scribbling over a buffer, AMOs, console output through the UART,
# a CLINT timer interrupt with a data-dependent period, ecalls handled by the trap handler, WFI.
#
# Phase 2 (after 32768 iterations), S and U under Sv32: the same workload in U-mode through
# 4 KiB pages whose A/D bits start clear, so the page walk sets them (Privileged spec §4.3.1).
# S-mode ages those PTEs the way Linux's ptep_clear_flush_young does: it clears A (and, every
# other time, D) with no SFENCE.VMA, so whether the next access sets them again depends on what
# the TLB still holds (§4.2.1 lets a hart keep using a cached translation). S also counts the
# pages it found young (the A bit lands in registers and memory), maps a page on demand on a page
# fault and unmaps it again with SFENCE.VMA, and idles in WFI. M-mode's timer interrupt raises a
# supervisor software interrupt whose handler clears one more A bit.
#
# Registers: s1 LCG state, s2 buffer base, s3 iteration, s4 checksum, s5 AMO target. t4-t6 are
# clobbered by arm_timer (the M handler saves them), a7 is the ecall argument in phase 2.

    .equ UART, 0x10000000
    .equ MTIME, 0x0200bff8
    .equ MTIMECMP, 0x02004000
    .equ PTE_V, 0x01
    .equ PTE_R, 0x02
    .equ PTE_W, 0x04
    .equ PTE_X, 0x08
    .equ PTE_U, 0x10
    .equ PTE_A, 0x40
    .equ PTE_D, 0x80
    .equ U_CODE_VA, 0x1000      # U code page
    .equ WINDOW_VA, 0x10000     # 16 data pages, PTEs 16..31 of pt_l0
    .equ DEMAND_VA, 0x20000     # mapped on demand, PTE 32 of pt_l0

    .section .text.init
    .globl _start
_start:
    la sp, stack_top
    la t0, mstack_top
    csrw mscratch, t0
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
    li t0, UART
    sb t1, 0(t0)
    ecall                      # handled by the trap handler (mcause 11)
1:  li t0, 0x3fff
    and t1, s3, t0
    bnez t1, loop
    wfi                        # every 16384 iterations: idle until the timer
    li t0, 0x8000
    bltu s3, t0, loop
    # fall through into phase 2

# Builds the page tables and drops to S-mode (Sv32 on).
enter_s:
    csrci mstatus, 8
    la t0, pt_root
    la t1, pt_l0
    srli t2, t1, 12            # root[0] -> pt_l0 (non-leaf)
    slli t2, t2, 10
    ori t2, t2, PTE_V
    sw t2, 0(t0)
    li t2, (0x80000000 >> 12 << 10) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
    li t3, 0x200 * 4
    add t3, t3, t0
    sw t2, 0(t3)               # RAM, identity, 4 MiB superpage, supervisor only
    li t2, (UART >> 12 << 10) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    sw t2, (UART >> 22) * 4(t0)  # the UART, identity superpage
    la t2, u_code
    srli t2, t2, 12
    slli t2, t2, 10
    ori t2, t2, PTE_V | PTE_R | PTE_X | PTE_U
    sw t2, (U_CODE_VA >> 12) * 4(t1)
    la t2, buffer              # the window: A and D clear, set by the walk
    srli t2, t2, 12
    slli t2, t2, 10
    ori t2, t2, PTE_V | PTE_R | PTE_W | PTE_U
    addi t3, t1, (WINDOW_VA >> 12) * 4
    li t4, 16
1:  sw t2, 0(t3)
    addi t2, t2, 1 << 10
    addi t3, t3, 4
    addi t4, t4, -1
    bnez t4, 1b
    srli t0, t0, 12
    li t1, 0x80000000
    or t0, t0, t1
    csrw satp, t0
    li t0, -1                  # PMP entry 0: NAPOT over everything, RWX, so S and U may
    csrw pmpaddr0, t0          # access memory at all (firmware mode resets PMP to all OFF)
    li t0, 0x1f
    csrw pmpcfg0, t0
    sfence.vma
    li t0, (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15)
    csrw medeleg, t0           # ecall from U and page faults to S
    csrwi mideleg, 2           # SSI to S
    csrsi mie, 2               # SSIE
    la t0, s_trap
    csrw stvec, t0
    la t0, sstack_top
    csrw sscratch, t0
    li t0, 0x1800
    csrc mstatus, t0
    li t0, 0x0800
    csrs mstatus, t0           # MPP = S
    la t0, s_start
    csrw mepc, t0
    mret

arm_timer:                     # mtimecmp = mtime + 2000 + (state & 0x7ff)
    li t4, MTIME
    lw t5, 0(t4)
    andi t6, s1, 0x7ff
    addi t6, t6, 2000
    add t6, t5, t6
    li t4, MTIMECMP
    li t5, -1
    sw t5, 4(t4)
    sw t6, 0(t4)
    sw zero, 4(t4)
    ret

    .align 4
trap:
    csrrw sp, mscratch, sp
    addi sp, sp, -32
    sw ra, 0(sp)
    sw t0, 4(sp)
    sw t4, 8(sp)
    sw t5, 12(sp)
    sw t6, 16(sp)
    csrr t0, mcause
    bltz t0, 2f
    csrr t0, mepc              # ecall (from M or S): skip it, count it
    addi t0, t0, 4
    csrw mepc, t0
    la t4, counters
    lw t0, 4(t4)
    addi t0, t0, 1
    sw t0, 4(t4)
    j 3f
2:  la t4, counters            # timer: count, re-arm, poke S
    lw t0, 8(t4)
    addi t0, t0, 1
    sw t0, 8(t4)
    li t0, UART
    li ra, '.'
    sb ra, 0(t0)
    call arm_timer
    csrsi mip, 2               # SSIP (delegated: S takes it once it runs)
3:  lw ra, 0(sp)
    lw t0, 4(sp)
    lw t4, 8(sp)
    lw t5, 12(sp)
    lw t6, 16(sp)
    addi sp, sp, 32
    csrrw sp, mscratch, sp
    mret

# ---- S-mode (RAM identity-mapped by the superpage) ----

s_start:
    li s2, WINDOW_VA
    li s3, 0
    li s5, WINDOW_VA + 0xfffc
    li t0, U_CODE_VA
    csrw sepc, t0
    li t0, 0x100
    csrc sstatus, t0           # SPP = U
    sret

    .align 4
s_trap:
    csrrw sp, sscratch, sp
    addi sp, sp, -32
    sw t0, 0(sp)
    sw t1, 4(sp)
    sw t2, 8(sp)
    sw t3, 12(sp)
    sw a0, 16(sp)
    sw a1, 20(sp)
    la a1, s_counters
    csrr t0, scause
    bltz t0, s_irq
    li t1, 8
    beq t0, t1, s_ecall
    # page fault on the demand page: map it (and fence that VA, as Linux's update_mmu_cache does)
    lw t0, 0(a1)
    addi t0, t0, 1
    sw t0, 0(a1)
    la t0, pt_l0
    la t1, demand_page
    srli t1, t1, 12
    slli t1, t1, 10
    ori t1, t1, PTE_V | PTE_R | PTE_W | PTE_U
    sw t1, (DEMAND_VA >> 12) * 4(t0)
    csrr t0, stval
    sfence.vma t0, zero
    j s_ret                    # retry the access
s_ecall:
    csrr t0, sepc
    addi t0, t0, 4
    csrw sepc, t0
    bnez a7, s_idle
    # age one window page: test-and-clear A, no SFENCE.VMA (ptep_clear_flush_young)
    lw t2, 4(a1)               # rotating index
    addi t3, t2, 1
    sw t3, 4(a1)
    andi t0, t2, 15
    slli t0, t0, 2
    la t1, pt_l0 + (WINDOW_VA >> 12) * 4
    add t0, t0, t1
    li t1, ~PTE_A
    amoand.w t1, t1, (t0)
    andi t1, t1, PTE_A         # young pages seen
    srli t1, t1, 6
    lw t3, 8(a1)
    add t3, t3, t1
    sw t3, 8(a1)
    andi t1, t2, 1             # every other time also clean it (D cleared, no SFENCE.VMA)
    beqz t1, 1f
    lw t1, 0(t0)
    andi t1, t1, ~PTE_D
    sw t1, 0(t0)
1:  andi t1, t2, 3             # every fourth: a letter
    bnez t1, s_ret
    srli t1, s1, 27
    addi t1, t1, 'A'
    li t0, UART
    sb t1, 0(t0)
    j s_ret
s_idle:
    # unmap the demand page, fenced (the next store to it faults again), tell M, idle
    la t0, pt_l0
    sw zero, (DEMAND_VA >> 12) * 4(t0)
    li t0, DEMAND_VA
    sfence.vma t0, zero
    ecall                      # to M (mcause 9)
    wfi
    j s_ret
s_irq:
    # SSI from M's timer: clear SSIP and the A bit of the page the sweep visits last
    csrci sip, 2
    lw t2, 12(a1)
    addi t2, t2, 1
    sw t2, 12(a1)
    lw t2, 4(a1)
    addi t2, t2, 8
    andi t0, t2, 15
    slli t0, t0, 2
    la t1, pt_l0 + (WINDOW_VA >> 12) * 4
    add t0, t0, t1
    lw t1, 0(t0)
    andi t1, t1, ~PTE_A
    sw t1, 0(t0)
s_ret:
    lw t0, 0(sp)
    lw t1, 4(sp)
    lw t2, 8(sp)
    lw t3, 12(sp)
    lw a0, 16(sp)
    lw a1, 20(sp)
    addi sp, sp, 32
    csrrw sp, sscratch, sp
    sret

# ---- U-mode: its own page, run at U_CODE_VA (position-independent) ----
    .balign 4096
u_code:
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
    srli t1, s1, 3             # a halfword and a byte elsewhere in the window
    li t0, 0xfffe
    and t1, t1, t0
    add t1, t1, s2
    sh s4, 0(t1)
    sb s3, 1(t1)
    amoadd.w t3, s1, (s5)
    addi s3, s3, 1
    andi t1, s3, 0xff
    bnez t1, 1f
    li a7, 0
    ecall                      # every 256 iterations: S ages a page
1:  li t0, 0xfff
    and t1, s3, t0
    bnez t1, 2f
    li t0, DEMAND_VA
    sw s3, 0(t0)               # every 4096: the demand page (faults when unmapped)
    lw t1, 0(t0)
    add s4, s4, t1
2:  li t0, 0x3fff
    and t1, s3, t0
    bnez t1, u_code
    li a7, 1
    ecall                      # every 16384: S unmaps the demand page and idles
    j u_code
    .balign 4096

    .data
    .align 6
    .globl tohost
tohost: .dword 0
    .globl fromhost
fromhost: .dword 0
    .globl counters
counters: .word 0, 0, 0, 0
    .globl s_counters          # page faults, ages, young pages found, SSIs
s_counters: .word 0, 0, 0, 0
    .bss
    .align 12
    .globl buffer
buffer: .skip 65536
pt_root: .skip 4096
    .globl pt_l0
pt_l0: .skip 4096
demand_page: .skip 4096
    .skip 4096
stack_top:
    .skip 1024
mstack_top:
    .skip 1024
sstack_top:
