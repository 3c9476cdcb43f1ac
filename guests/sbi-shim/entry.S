/* SPDX-License-Identifier: MIT */
/*
 * Skiff SBI shim: M-mode entry and trap vector. QEMU's reset ROM jumps here (0x80000000) with
 * a0 = hart id, a1 = device tree, a2 = fw_dynamic_info (where QEMU loaded the kernel).
 * Everything that is not register shuffling is in shim.c.
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	csrw	mie, zero
	la	sp, shim_stack_top
	csrw	mscratch, sp
	la	t0, trap_entry
	csrw	mtvec, t0
	/* zero .bss (QEMU zero-fills it too, but a reset must not rely on that) */
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sw	zero, 0(t0)
	addi	t0, t0, 4
	j	1b
2:	mv	s0, a0
	mv	s1, a1
	call	shim_init		/* (hartid, dtb, dynamic info) -> kernel entry */
	csrw	mepc, a0
	mv	a0, s0
	mv	a1, s1
	mret				/* to S-mode (mstatus.MPP set by shim_init) */

/*
 * Every trap that reaches M-mode: SBI calls (ecall from S), the machine timer, and anything
 * unexpected. The frame holds x1..x31 at index 1..31 (index 2, sp, is the interrupted sp).
 */
	.align	4
	.globl	trap_entry
trap_entry:
	csrrw	sp, mscratch, sp
	addi	sp, sp, -128
	sw	x1, 4(sp)
	sw	x3, 12(sp)
	sw	x4, 16(sp)
	sw	x5, 20(sp)
	sw	x6, 24(sp)
	sw	x7, 28(sp)
	sw	x8, 32(sp)
	sw	x9, 36(sp)
	sw	x10, 40(sp)
	sw	x11, 44(sp)
	sw	x12, 48(sp)
	sw	x13, 52(sp)
	sw	x14, 56(sp)
	sw	x15, 60(sp)
	sw	x16, 64(sp)
	sw	x17, 68(sp)
	sw	x18, 72(sp)
	sw	x19, 76(sp)
	sw	x20, 80(sp)
	sw	x21, 84(sp)
	sw	x22, 88(sp)
	sw	x23, 92(sp)
	sw	x24, 96(sp)
	sw	x25, 100(sp)
	sw	x26, 104(sp)
	sw	x27, 108(sp)
	sw	x28, 112(sp)
	sw	x29, 116(sp)
	sw	x30, 120(sp)
	sw	x31, 124(sp)
	csrr	t0, mscratch
	sw	t0, 8(sp)
	mv	a0, sp
	call	shim_trap
	lw	x1, 4(sp)
	lw	x3, 12(sp)
	lw	x4, 16(sp)
	lw	x5, 20(sp)
	lw	x6, 24(sp)
	lw	x7, 28(sp)
	lw	x8, 32(sp)
	lw	x9, 36(sp)
	lw	x10, 40(sp)
	lw	x11, 44(sp)
	lw	x12, 48(sp)
	lw	x13, 52(sp)
	lw	x14, 56(sp)
	lw	x15, 60(sp)
	lw	x16, 64(sp)
	lw	x17, 68(sp)
	lw	x18, 72(sp)
	lw	x19, 76(sp)
	lw	x20, 80(sp)
	lw	x21, 84(sp)
	lw	x22, 88(sp)
	lw	x23, 92(sp)
	lw	x24, 96(sp)
	lw	x25, 100(sp)
	lw	x26, 104(sp)
	lw	x27, 108(sp)
	lw	x28, 112(sp)
	lw	x29, 116(sp)
	lw	x30, 120(sp)
	lw	x31, 124(sp)
	addi	sp, sp, 128
	csrrw	sp, mscratch, sp
	mret

	.section .bss
	.align	4
shim_stack:
	.space	2048
shim_stack_top:
