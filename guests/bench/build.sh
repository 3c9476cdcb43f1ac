#!/usr/bin/env bash
# Builds the benchmark guests: build/{int,mem,sv32,mixed}.elf (committed) and build/print/*.elf (the
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
if [[ $# -gt 0 ]]; then names=("$@"); else names=(int mem sv32 mixed); fi
# A guest may have C beside its assembly (name.c): freestanding, no libc, nothing it calls implicitly.
COPT=(-O2 -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns)
for name in "${names[@]}"; do
  for dir in "$OBJ" "$OBJ/print"; do
    defs=(); out="$HERE/build/$name.elf"
    if [[ $dir == "$OBJ/print" ]]; then defs=(-DBENCH_PRINT); out="$HERE/build/print/$name.elf"; fi
    objs=("$name.o")
    (cd "$dir" && "$CC" "${CFLAGS[@]}" "${defs[@]}" -c "$HERE/$name.S" -o "$name.o")
    if [[ -f $HERE/$name.c ]]; then
      (cd "$dir" && "$CC" "${ARCH[@]}" "${COPT[@]}" -c "$HERE/$name.c" -o "$name-c.o")
      objs+=("$name-c.o")
    fi
    (cd "$dir" && "$CC" "${LDFLAGS[@]}" "${objs[@]}" -o "$out")
  done
  echo "built build/$name.elf"
done
