#!/usr/bin/env bash
# Builds guests/sbi-shim/shim.elf, the M-mode SBI firmware for booting the Skiff rv32 guest in
# `qemu-system-riscv32 -M virt -bios shim.elf` (Debian's QEMU has no rv32 firmware).
# Needs gcc-riscv64-linux-gnu (Debian); no C library, no libgcc.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CROSS="${CROSS:-riscv64-linux-gnu-}"
WORK="${SKIFF_SHIM_WORK:-$HERE/.work}"
mkdir -p "$WORK"

FLAGS=(-march=rv32ima_zicsr_zifencei -mabi=ilp32 -mcmodel=medany -Os -ffreestanding -nostdlib
  -fno-builtin -fno-stack-protector -fno-pic -fno-asynchronous-unwind-tables -fno-ident
  -Wall -Wextra -Werror)
# GCC 12 split Zicsr/Zifencei out of I; older compilers reject the suffixes.
if ! echo 'int x;' | "${CROSS}gcc" "${FLAGS[@]}" -x c -c -o /dev/null - 2>/dev/null; then
  FLAGS=("${FLAGS[@]/-march=rv32ima_zicsr_zifencei/-march=rv32ima}")
fi
"${CROSS}gcc" "${FLAGS[@]}" -c -o "$WORK/entry.o" "$HERE/entry.S"
"${CROSS}gcc" "${FLAGS[@]}" -c -o "$WORK/shim.o" "$HERE/shim.c"
"${CROSS}ld" -m elf32lriscv --no-warn-rwx-segments -T "$HERE/shim.ld" --build-id=none -o "$HERE/shim.elf" \
  "$WORK/entry.o" "$WORK/shim.o"
# rv32ima only: the machine has no compressed instructions (misa.C is off in hv-core and in the
# QEMU command line we use)
if "${CROSS}objdump" -d "$HERE/shim.elf" | grep -qE '^\s+[0-9a-f]+:\s+[0-9a-f]{4}\s'; then
  echo "sbi-shim: compressed instructions in shim.elf" >&2
  exit 1
fi
echo "sbi-shim: $HERE/shim.elf $(stat -c %s "$HERE/shim.elf") B"
