/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by /init and /bin/sh: buffered line output, the rv32 flavours of the time, wait
 * and poll syscalls that nolibc 6.1 lacks (see rv32.h), small file and number utilities.
 * Everything is static: each program is one translation unit.
 */
#ifndef SKIFF_H
#define SKIFF_H

#include <asm/siginfo.h>
#include <asm/termbits.h>
#include <asm/ioctls.h>
#include <linux/time_types.h>

typedef unsigned int u32;

/* ---- output: whole lines go out in one write(), so lines from concurrent processes (a
 * background counter and the shell) do not interleave mid-line on the console. ---------------- */

static char out_buf[1024];
static int out_len;

static __attribute__((unused)) void out_flush(void)
{
	int off = 0;

	while (off < out_len) {
		ssize_t n = write(1, out_buf + off, out_len - off);

		if (n <= 0)
			break;
		off += n;
	}
	out_len = 0;
}

static __attribute__((unused)) void out_mem(const char *s, int n)
{
	while (n > 0) {
		int room = (int)sizeof(out_buf) - out_len;
		int k = n < room ? n : room;

		memcpy(out_buf + out_len, s, k);
		out_len += k;
		s += k;
		n -= k;
		if (out_len == (int)sizeof(out_buf))
			out_flush();
	}
}

static __attribute__((unused)) void out_str(const char *s) { out_mem(s, strlen(s)); }
static __attribute__((unused)) void out_chr(char c) { out_mem(&c, 1); }
static __attribute__((unused)) void out_nl(void) { out_chr('\n'); out_flush(); }

/* Unsigned decimal, right-aligned in `width` columns (0: no padding). 32-bit only: 64-bit
 * division would need libgcc, which the cross toolchain has no rv32 build of. */
static __attribute__((unused)) void out_u32w(u32 v, int width)
{
	char tmp[12];
	int n = 0;

	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (width-- > n)
		out_chr(' ');
	while (n)
		out_chr(tmp[--n]);
}

static __attribute__((unused)) void out_u32(u32 v) { out_u32w(v, 0); }

static __attribute__((unused)) void out_i32(int v)
{
	if (v < 0) {
		out_chr('-');
		out_u32(-(u32)v);
	} else {
		out_u32(v);
	}
}

/* 64-bit decimal with 32-bit arithmetic only: long division by 10 over 16-bit limbs. */
static __attribute__((unused)) void out_u64(u32 hi, u32 lo)
{
	char tmp[21];
	int n = 0;

	do {
		u32 limbs[4] = { hi >> 16, hi & 0xffff, lo >> 16, lo & 0xffff };
		u32 rem = 0;
		int i;

		for (i = 0; i < 4; i++) {
			u32 cur = rem << 16 | limbs[i];

			limbs[i] = cur / 10;
			rem = cur % 10;
		}
		tmp[n++] = '0' + rem;
		hi = limbs[0] << 16 | limbs[1];
		lo = limbs[2] << 16 | limbs[3];
	} while (hi || lo);
	while (n)
		out_chr(tmp[--n]);
}

/* The instret CSR: retired instructions since the hart started. Exact in hv-core and in QEMU with
 * -icount; plain QEMU counts host ticks instead. Needs scounteren.IR (set by the SBI shim). */
static __attribute__((unused)) void read_instret(u32 *hi, u32 *lo)
{
	u32 hi2;

	do {
		__asm__ volatile("rdinstreth %0" : "=r"(*hi));
		__asm__ volatile("rdinstret %0" : "=r"(*lo));
		__asm__ volatile("rdinstreth %0" : "=r"(hi2));
	} while (*hi != hi2);
}

static __attribute__((unused)) void out_hex8(u32 v)
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 28; i >= 0; i -= 4)
		out_chr(digits[(v >> i) & 15]);
}

/* "<what>: <reason>" on stderr; reason from a negative errno value. */
static __attribute__((unused)) void fail(const char *what, int neg_errno)
{
	static const struct { int code; const char *text; } names[] = {
		{ EPERM, "not permitted" }, { ENOENT, "no such file or directory" },
		{ ESRCH, "no such process" }, { EIO, "I/O error" }, { ENXIO, "no such device" },
		{ E2BIG, "argument list too long" }, { ENOEXEC, "exec format error" },
		{ ECHILD, "no child processes" }, { ENOMEM, "out of memory" },
		{ EACCES, "permission denied" }, { EFAULT, "bad address" }, { EBUSY, "busy" },
		{ EEXIST, "exists" }, { ENODEV, "no such device" }, { ENOTDIR, "not a directory" },
		{ EISDIR, "is a directory" }, { EINVAL, "invalid argument" },
		{ ENOSPC, "no space left on device" }, { EROFS, "read-only file system" },
		{ ENOSYS, "not implemented" }, { ENOTEMPTY, "directory not empty" },
	};
	const char *text = 0;
	unsigned i;

	out_flush();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == -neg_errno)
			text = names[i].text;
	out_str(what);
	out_str(": ");
	if (text) {
		out_str(text);
	} else {
		out_str("error ");
		out_i32(-neg_errno);
	}
	out_chr('\n');
	/* same line discipline as stdout, but on fd 2 */
	write(2, out_buf, out_len);
	out_len = 0;
}

static __attribute__((unused)) void usage(const char *text)
{
	out_flush();
	write(2, "usage: ", 7);
	write(2, text, strlen(text));
	write(2, "\n", 1);
}

/* ---- time ------------------------------------------------------------------------------------ */

#define SKIFF_CLOCK_MONOTONIC 1

static __attribute__((unused)) struct __kernel_timespec ts_from_ms(u32 ms)
{
	struct __kernel_timespec t;

	t.tv_sec = ms / 1000;
	t.tv_nsec = (long)(ms % 1000) * 1000000L;
	return t;
}

/* Milliseconds of CLOCK_MONOTONIC, wrapping every ~49 days: callers only use differences. */
static __attribute__((unused)) u32 now_ms(void)
{
	struct __kernel_timespec t;

	my_syscall2(__NR_clock_gettime64, SKIFF_CLOCK_MONOTONIC, &t);
	return (u32)t.tv_sec * 1000u + (u32)t.tv_nsec / 1000000u;
}

/* Monotonic time as seconds and hundredths (for uptime-like output). */
static __attribute__((unused)) void now_sec(u32 *sec, u32 *centi)
{
	struct __kernel_timespec t;

	my_syscall2(__NR_clock_gettime64, SKIFF_CLOCK_MONOTONIC, &t);
	*sec = (u32)t.tv_sec;
	*centi = (u32)t.tv_nsec / 10000000u;
}

static __attribute__((unused)) void sleep_ms(u32 ms)
{
	struct __kernel_timespec t = ts_from_ms(ms);

	/* restart after a signal with the remaining time */
	while (my_syscall4(__NR_clock_nanosleep_time64, SKIFF_CLOCK_MONOTONIC, 0, &t, &t) == -EINTR)
		;
}

/* Waits up to `ms` for input on fd 0. Returns 1 if input is ready, 0 on timeout. */
static __attribute__((unused)) int wait_input(u32 ms)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	struct __kernel_timespec t = ts_from_ms(ms);

	return my_syscall5(__NR_ppoll_time64, &p, 1, &t, 0, 0) > 0;
}

/* ---- processes --------------------------------------------------------------------------------- */

#define SKIFF_P_ALL 0
#define SKIFF_P_PID 1
#define SKIFF_WEXITED 4

/*
 * waitpid() on top of waitid (rv32 has no wait4). Returns the child's pid, 0 if WNOHANG and none
 * has exited, or a negative errno. *status gets the exit code, or 128 + signal if killed.
 */
static __attribute__((unused)) int wait_child(int pid, int nohang, int *status)
{
	siginfo_t info;
	long ret;

	memset(&info, 0, sizeof(info));
	ret = my_syscall5(__NR_waitid, pid > 0 ? SKIFF_P_PID : SKIFF_P_ALL, pid > 0 ? pid : 0, &info,
			  SKIFF_WEXITED | (nohang ? WNOHANG : 0), 0);
	if (ret < 0)
		return ret;
	if (info.si_pid == 0)
		return 0;
	if (status)
		*status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
	return info.si_pid;
}

/* ---- files --------------------------------------------------------------------------------- */

/* Reads up to size-1 bytes of a (small, /proc-like) file and NUL-terminates. Returns the length or
 * a negative errno. */
static __attribute__((unused)) int read_small(const char *path, char *buf, int size)
{
	int fd = sys_open(path, O_RDONLY, 0);
	int len = 0;

	if (fd < 0)
		return fd;
	while (len < size - 1) {
		ssize_t n = sys_read(fd, buf + len, size - 1 - len);

		if (n <= 0)
			break;
		len += n;
	}
	sys_close(fd);
	buf[len] = 0;
	return len;
}

static __attribute__((unused)) int path_exists(const char *path)
{
	int fd = sys_open(path, O_RDONLY | O_NONBLOCK, 0);

	if (fd < 0)
		return 0;
	sys_close(fd);
	return 1;
}

/* ---- parsing ------------------------------------------------------------------------------ */

/* Parses a decimal u32; returns 0 on anything that is not a plain number in range. */
static __attribute__((unused)) int parse_u32(const char *s, u32 *out)
{
	u32 v = 0;

	if (!s || !*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 429496729u || (v == 429496729u && *s > '5'))
			return 0;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 1;
}

/* Parses seconds with up to three decimals ("2", "0.5", "1.25") into milliseconds. */
static __attribute__((unused)) int parse_seconds_ms(const char *s, u32 *ms)
{
	u32 whole = 0, frac = 0, scale = 100;

	if (!s || !*s || *s == '.')
		return 0;
	for (; *s && *s != '.'; s++) {
		if (*s < '0' || *s > '9' || whole > 4000000u)
			return 0;
		whole = whole * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; *s; s++) {
			if (*s < '0' || *s > '9')
				return 0;
			frac += (*s - '0') * scale;
			scale /= 10;
		}
	}
	*ms = whole * 1000 + frac;
	return 1;
}

static __attribute__((unused)) int str_eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* out = a + b + c, cut to size-1 characters (nolibc 6.1's strlcat does not terminate on
 * truncation). Returns 0 if it had to cut. */
static __attribute__((unused)) int concat3(char *out, int size, const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	int len = 0, i;

	for (i = 0; i < 3; i++)
		for (const char *s = parts[i]; *s; s++) {
			if (len == size - 1) {
				out[len] = 0;
				return 0;
			}
			out[len++] = *s;
		}
	out[len] = 0;
	return 1;
}

/* ---- console ------------------------------------------------------------------------------ */

/* Puts the console in character mode (no line buffering, no echo) so a single key stops a
 * foreground workload; returns 1 if the mode was changed and must be restored. */
static __attribute__((unused)) int console_keys_on(struct termios *saved)
{
	struct termios t;

	if (sys_ioctl(0, TCGETS, saved) < 0)
		return 0;
	t = *saved;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	return sys_ioctl(0, TCSETS, &t) == 0;
}

static __attribute__((unused)) void console_keys_off(struct termios *saved) { sys_ioctl(0, TCSETS, saved); }

/* Consumes pending console input (the key that stopped a workload). */
static __attribute__((unused)) void drain_input(void)
{
	char junk[64];

	while (wait_input(0))
		if (sys_read(0, junk, sizeof(junk)) <= 0)
			break;
}

#endif /* SKIFF_H */
