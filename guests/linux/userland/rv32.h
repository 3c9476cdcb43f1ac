/* SPDX-License-Identifier: MIT */
/*
 * Include this instead of nolibc.h (build.sh passes it with -include).
 *
 * Linux 6.1's nolibc (tools/include/nolibc/sys.h) names a few syscalls unconditionally that a
 * 32-bit kernel built without 32-bit time compatibility does not have: rv32 only offers the
 * time64 flavours (clock_gettime64, clock_nanosleep_time64, ppoll_time64, pselect6_time64),
 * llseek instead of lseek, statx instead of stat/newfstatat, and waitid instead of wait4.
 * Without the definitions below nolibc.h does not compile for rv32 at all.
 *
 * Each missing number becomes a call to a function that is declared but defined nowhere: nolibc's
 * wrappers are static and vanish when unused, so the program links as long as nothing uses them;
 * using one by mistake (gettimeofday, lseek, stat, wait, waitpid, sleep, usleep, select, poll,
 * time) fails at link time instead of making a wrong syscall. The rv32 equivalents are in
 * skiff.h.
 */
#ifndef SKIFF_RV32_H
#define SKIFF_RV32_H

#include <asm/unistd.h>

#if !defined(__riscv) || __riscv_xlen != 32
#error "the Skiff guest userland targets rv32 (-march=rv32ima -mabi=ilp32)"
#endif

extern long skiff_rv32_has_no_such_syscall(void);
#define SKIFF_NO_SYSCALL (skiff_rv32_has_no_such_syscall())

#ifndef __NR_gettimeofday
#define __NR_gettimeofday SKIFF_NO_SYSCALL
#endif
#ifndef __NR_lseek
#define __NR_lseek SKIFF_NO_SYSCALL
#endif
#if !defined(__NR_ppoll) && !defined(__NR_poll)
#define __NR_poll SKIFF_NO_SYSCALL
#endif
#if !defined(__NR_pselect6) && !defined(__NR_select) && !defined(__NR__newselect)
#define __NR_select SKIFF_NO_SYSCALL
#endif
#if !defined(__NR_newfstatat) && !defined(__NR_stat)
#define __NR_stat SKIFF_NO_SYSCALL
#endif
#ifndef __NR_wait4
#define __NR_wait4 SKIFF_NO_SYSCALL
#endif

#include "nolibc.h"

#endif /* SKIFF_RV32_H */
