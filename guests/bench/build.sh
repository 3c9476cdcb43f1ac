#!/usr/bin/env bash
# Builds the benchmark guests: build/{int,mem,sv32}.elf (committed) and build/print/*.elf (the
# -DBENCH_PRINT variants that print checksum and instret through the HTIF console).
# Needs Debian's gcc-riscv64-unknown-elf. Usage: guests/bench/build.sh [name...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CC="${CC:-riscv64-unknown-elf-gcc}"
ARCH=(-march=rv32ima_zicsr_zifencei -mabi=ilp32)
CFLAGS=("${ARCH[@]}" -I "$HERE/include" -Wa,--fatal-warnings)
LDFLAGS=("${ARCH[@]}" -nostdlib -static -T "$HERE/link.ld" -Wl,--build-id=none
  -Wl,--no-warn-rwx-segments)
# Objects get fixed names (the linker records them) so rebuilding gives identical bytes.
OBJ="$HERE/build/obj"
mkdir -p "$HERE/build/print" "$OBJ/print"
if [[ $# -gt 0 ]]; then names=("$@"); else names=(int mem sv32); fi
for name in "${names[@]}"; do
  (cd "$OBJ" && "$CC" "${CFLAGS[@]}" -c "$HERE/$name.S" -o "$name.o" &&
    "$CC" "${LDFLAGS[@]}" "$name.o" -o "$HERE/build/$name.elf")
  (cd "$OBJ/print" && "$CC" "${CFLAGS[@]}" -DBENCH_PRINT -c "$HERE/$name.S" -o "$name.o" &&
    "$CC" "${LDFLAGS[@]}" "$name.o" -o "$HERE/build/print/$name.elf")
  echo "built build/$name.elf"
done
