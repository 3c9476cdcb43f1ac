/* SPDX-License-Identifier: MIT */
/*
 * Skiff SBI shim: the smallest M-mode firmware that boots the Skiff rv32 Linux guest on
 * `qemu-system-riscv32 -M virt` (Debian's QEMU ships only 64-bit OpenSBI). One hart.
 *
 *  - PMP opens all of memory to S and U mode; exceptions from U/S-mode and the supervisor
 *    interrupts are delegated to the kernel.
 *  - Timer: the kernel's set_timer programs the CLINT's mtimecmp; the machine timer interrupt is
 *    turned into the supervisor timer interrupt (mip.STIP) and masked until the next set_timer.
 *  - SBI: legacy set_timer/putchar/getchar/clear_ipi/remote fences/shutdown, and v0.3 BASE, TIME
 *    and SRST (Linux 6.1 uses SRST for poweroff and reboot once it sees spec >= 0.3).
 *  - Poweroff and reboot go to QEMU's sifive_test device: QEMU exits with status 0 on poweroff,
 *    1 on a shutdown for "system failure", and resets the machine on reboot.
 */
typedef unsigned int u32;

#define CLINT_MTIMECMP 0x02004000u
#define UART_BASE 0x10000000u
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define TEST_FINISHER 0x00100000u
#define FINISHER_PASS 0x5555u
#define FINISHER_FAIL 0x3333u
#define FINISHER_RESET 0x7777u
#define DEFAULT_KERNEL 0x80400000u
#define FW_DYNAMIC_MAGIC 0x4942534fu /* "OSBI" */

#define MSTATUS_MPP_MASK (3u << 11)
#define MSTATUS_MPP_S (1u << 11)
#define MIP_SSIP (1u << 1)
#define MIP_STIP (1u << 5)
#define MIP_SEIP (1u << 9)
#define MIE_MTIE (1u << 7)
#define MCAUSE_IRQ 0x80000000u
#define IRQ_M_TIMER 7
#define EXC_ECALL_S 9

/* SBI extension ids and errors (SBI spec v0.3) */
#define EID_BASE 0x10
#define EID_TIME 0x54494d45
#define EID_SRST 0x53525354
#define SBI_SUCCESS 0
#define SBI_ERR_FAILED (-1)
#define SBI_ERR_NOT_SUPPORTED (-2)
#define SBI_ERR_INVALID_PARAM (-3)
#define SBI_SPEC_0_3 3u
#define SHIM_IMPL_ID 0x5368u /* "Sh": not a registered implementation id */
#define SHIM_IMPL_VERSION 1u

#define csr_read(csr) ({ u32 __v; __asm__ volatile("csrr %0, " #csr : "=r"(__v)); __v; })
#define csr_write(csr, v) __asm__ volatile("csrw " #csr ", %0" ::"r"(v))
#define csr_set(csr, v) __asm__ volatile("csrs " #csr ", %0" ::"r"(v))
#define csr_clear(csr, v) __asm__ volatile("csrc " #csr ", %0" ::"r"(v))

static inline void mmio_w32(u32 addr, u32 v) { *(volatile u32 *)addr = v; }
static inline void mmio_w8(u32 addr, u32 v) { *(volatile unsigned char *)addr = v; }
static inline u32 mmio_r8(u32 addr) { return *(volatile unsigned char *)addr; }

struct fw_dynamic_info {
	u32 magic, version, next_addr, next_mode, options, boot_hart;
};

static void putchar(int c)
{
	while (!(mmio_r8(UART_BASE + UART_LSR) & UART_LSR_THRE))
		;
	mmio_w8(UART_BASE, c);
}

static int getchar(void)
{
	return (mmio_r8(UART_BASE + UART_LSR) & UART_LSR_DR) ? (int)mmio_r8(UART_BASE) : -1;
}

static void puts(const char *s)
{
	while (*s)
		putchar(*s++);
}

static void puthex(u32 v)
{
	int i;

	puts("0x");
	for (i = 28; i >= 0; i -= 4)
		putchar("0123456789abcdef"[(v >> i) & 15]);
}

static void __attribute__((noreturn)) finish(u32 value)
{
	mmio_w32(TEST_FINISHER, value);
	for (;;)
		__asm__ volatile("wfi");
}

static void set_timer(u32 lo, u32 hi)
{
	/* high word first to all ones so no intermediate value fires early */
	mmio_w32(CLINT_MTIMECMP + 4, 0xffffffffu);
	mmio_w32(CLINT_MTIMECMP, lo);
	mmio_w32(CLINT_MTIMECMP + 4, hi);
	csr_clear(mip, MIP_STIP);
	csr_set(mie, MIE_MTIE);
}

u32 shim_init(u32 hartid, u32 dtb, const struct fw_dynamic_info *info)
{
	u32 kernel = DEFAULT_KERNEL;
	u32 status;

	if (info && info->magic == FW_DYNAMIC_MAGIC && info->next_addr)
		kernel = info->next_addr;

	/* PMP entry 0: top-of-range over the whole 34-bit physical space, RWX for S and U mode */
	csr_write(pmpaddr0, 0xffffffffu);
	csr_write(pmpcfg0, 0x0fu);

	/* every exception the kernel handles itself: misaligned/faults/illegal/breakpoint, ecall
	 * from U, page faults (not ecall from S/M: those are ours) */
	csr_write(medeleg, (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) |
				   (1u << 6) | (1u << 7) | (1u << 8) | (1u << 12) | (1u << 13) |
				   (1u << 15));
	csr_write(mideleg, MIP_SSIP | MIP_STIP | MIP_SEIP);
	/* S and U mode may read cycle, time and instret (QEMU implements time via the CLINT) */
	csr_write(mcounteren, 0xffffffffu);
	/* and U-mode may too: Linux 6.1 never writes scounteren (only its KVM and PMU code do), so
	 * the value firmware leaves decides whether rdtime/rdinstret work in user programs */
	csr_write(scounteren, 7u);
	csr_write(mie, 0);
	csr_write(satp, 0);

	status = csr_read(mstatus);
	status = (status & ~MSTATUS_MPP_MASK) | MSTATUS_MPP_S;
	csr_write(mstatus, status);

	puts("sbi-shim: hart ");
	puthex(hartid);
	puts(", kernel ");
	puthex(kernel);
	puts(", dtb ");
	puthex(dtb);
	puts("\n");
	return kernel;
}

struct sbiret {
	long error;
	long value;
};

static struct sbiret sbi_base(u32 fid, u32 arg0)
{
	struct sbiret r = { SBI_SUCCESS, 0 };

	switch (fid) {
	case 0:
		r.value = SBI_SPEC_0_3;
		break;
	case 1:
		r.value = SHIM_IMPL_ID;
		break;
	case 2:
		r.value = SHIM_IMPL_VERSION;
		break;
	case 3:
		r.value = arg0 == EID_BASE || arg0 == EID_TIME || arg0 == EID_SRST || arg0 <= 0x08;
		break;
	case 4:
		r.value = csr_read(mvendorid);
		break;
	case 5:
		r.value = csr_read(marchid);
		break;
	case 6:
		r.value = csr_read(mimpid);
		break;
	default:
		r.error = SBI_ERR_NOT_SUPPORTED;
	}
	return r;
}

static struct sbiret sbi_srst(u32 fid, u32 type, u32 reason)
{
	struct sbiret r = { SBI_ERR_NOT_SUPPORTED, 0 };

	if (fid != 0)
		return r;
	if (reason > 1 && reason < 0xe0000000u) {
		r.error = SBI_ERR_INVALID_PARAM;
		return r;
	}
	if (type == 0)
		finish(reason == 1 ? FINISHER_FAIL | (1u << 16) : FINISHER_PASS);
	if (type == 1 || type == 2)
		finish(FINISHER_RESET);
	r.error = SBI_ERR_INVALID_PARAM;
	return r;
}

/* An ecall from S-mode. regs[] is x0..x31 of the caller; the result goes to a0/a1 (legacy
 * calls return only a0). */
static void sbi_call(u32 *regs)
{
	u32 eid = regs[17], fid = regs[16], a0 = regs[10], a1 = regs[11];
	struct sbiret r = { SBI_ERR_NOT_SUPPORTED, 0 };

	switch (eid) {
	case 0x00: /* legacy set_timer(u64) */
		set_timer(a0, a1);
		regs[10] = 0;
		return;
	case 0x01: /* legacy console_putchar */
		putchar(a0);
		regs[10] = 0;
		return;
	case 0x02: /* legacy console_getchar */
		regs[10] = getchar();
		return;
	case 0x03: /* legacy clear_ipi */
		csr_clear(mip, MIP_SSIP);
		regs[10] = 0;
		return;
	case 0x04: /* legacy send_ipi: one hart, so only to ourselves */
		csr_set(mip, MIP_SSIP);
		regs[10] = 0;
		return;
	case 0x05: /* legacy remote_fence_i */
		__asm__ volatile("fence.i" ::: "memory");
		regs[10] = 0;
		return;
	case 0x06: /* legacy remote_sfence_vma(_asid) */
	case 0x07:
		__asm__ volatile("sfence.vma" ::: "memory");
		regs[10] = 0;
		return;
	case 0x08: /* legacy shutdown */
		finish(FINISHER_PASS);
	case EID_BASE:
		r = sbi_base(fid, a0);
		break;
	case EID_TIME:
		if (fid == 0) {
			set_timer(a0, a1);
			r.error = SBI_SUCCESS;
		}
		break;
	case EID_SRST:
		r = sbi_srst(fid, a0, a1);
		break;
	default:
		break;
	}
	regs[10] = r.error;
	regs[11] = r.value;
}

void shim_trap(u32 *regs)
{
	u32 cause = csr_read(mcause);

	if (cause == (MCAUSE_IRQ | IRQ_M_TIMER)) {
		/* hand the tick to the kernel; masked until it programs the next one */
		csr_clear(mie, MIE_MTIE);
		csr_set(mip, MIP_STIP);
		return;
	}
	if (cause == EXC_ECALL_S) {
		csr_write(mepc, csr_read(mepc) + 4);
		sbi_call(regs);
		return;
	}
	puts("\nsbi-shim: unexpected trap, mcause ");
	puthex(cause);
	puts(" mepc ");
	puthex(csr_read(mepc));
	puts(" mtval ");
	puthex(csr_read(mtval));
	puts("\n");
	finish(FINISHER_FAIL | (3u << 16));
}
