#!/usr/bin/env bash
# Builds the benchmark guests: build/{int,mem,sv32}.elf (committed) and build/print/*.elf (the
# -DBENCH_PRINT variants that print checksum and instret through the HTIF console).
# Needs Debian's gcc-riscv64-unknown-elf. Usage: guests/bench/build.sh [name...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CC="${CC:-riscv64-unknown-elf-gcc}"
FLAGS=(-march=rv32ima_zicsr_zifencei -mabi=ilp32 -nostdlib -static -T "$HERE/link.ld"
  -I "$HERE/include" -Wa,--fatal-warnings -Wl,--build-id=none -Wl,--no-warn-rwx-segments)
mkdir -p "$HERE/build/print"
if [[ $# -gt 0 ]]; then names=("$@"); else names=(int mem sv32); fi
for name in "${names[@]}"; do
  "$CC" "${FLAGS[@]}" "$HERE/$name.S" -o "$HERE/build/$name.elf"
  "$CC" "${FLAGS[@]}" -DBENCH_PRINT "$HERE/$name.S" -o "$HERE/build/print/$name.elf"
  echo "built build/$name.elf"
done
