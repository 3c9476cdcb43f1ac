#!/usr/bin/env bash
# Builds every src/*.S into build/<name>.elf (the committed test images) and
# build/dump/<name>.elf (the -DSKIFF_DUMP variant check-qemu.sh uses to print signatures).
# Needs Debian's gcc-riscv64-unknown-elf. Usage: guests/isa-tests/build.sh [name...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CC="${CC:-riscv64-unknown-elf-gcc}"
ARCH=(-march=rv32ima_zicsr_zifencei -mabi=ilp32)
CFLAGS=("${ARCH[@]}" -I "$HERE/include" -Wa,--fatal-warnings)
LDFLAGS=("${ARCH[@]}" -nostdlib -static -T "$HERE/link.ld" -Wl,--build-id=none
  -Wl,--no-warn-rwx-segments)
# Objects get fixed names (the linker records them) so rebuilding gives identical bytes.
OBJ="$HERE/build/obj"
mkdir -p "$HERE/build/dump" "$OBJ/dump"
if [[ $# -gt 0 ]]; then names=("$@"); else
  names=(); for f in "$HERE"/src/*.S; do names+=("$(basename "$f" .S)"); done
fi
for name in "${names[@]}"; do
  src="$HERE/src/$name.S"
  (cd "$OBJ" && "$CC" "${CFLAGS[@]}" -c "$src" -o "$name.o" &&
    "$CC" "${LDFLAGS[@]}" "$name.o" -o "$HERE/build/$name.elf")
  (cd "$OBJ/dump" && "$CC" "${CFLAGS[@]}" -DSKIFF_DUMP -c "$src" -o "$name.o" &&
    "$CC" "${LDFLAGS[@]}" "$name.o" -o "$HERE/build/dump/$name.elf")
  echo "built build/$name.elf"
done
