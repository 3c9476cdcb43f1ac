#!/bin/sh
# Rebuilds the test guests (the ELFs are committed: CI needs no cross toolchain). Needs Debian's
# gcc-riscv64-unknown-elf. Objects get fixed names (the linker records them) and no build id, so
# rebuilding unchanged sources gives identical bytes.
set -eu
cd "$(dirname "$0")"
mkdir -p obj
for src in *.S; do
  name="${src%.S}"
  (cd obj && riscv64-unknown-elf-gcc -march=rv32ima_zicsr -mabi=ilp32 -c "../$src" -o "$name.o")
  riscv64-unknown-elf-gcc -march=rv32ima_zicsr -mabi=ilp32 -nostdlib -nostartfiles -static \
    -Wl,--build-id=none -T link.ld -o "$name.elf" "obj/$name.o"
done
rm -rf obj
