#!/bin/sh
# Rebuilds the test guests (the ELFs are committed: CI needs no cross toolchain).
set -eu
cd "$(dirname "$0")"
for src in *.S; do
  riscv64-unknown-elf-gcc -march=rv32ima_zicsr -mabi=ilp32 -nostdlib -nostartfiles -static \
    -T link.ld -o "${src%.S}.elf" "$src"
done
