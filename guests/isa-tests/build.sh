#!/usr/bin/env bash
# Builds every src/*.S into build/<name>.elf (the committed test images) and
# build/dump/<name>.elf (the -DSKIFF_DUMP variant check-qemu.sh uses to print signatures).
# Needs Debian's gcc-riscv64-unknown-elf. Usage: guests/isa-tests/build.sh [name...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CC="${CC:-riscv64-unknown-elf-gcc}"
FLAGS=(-march=rv32ima_zicsr_zifencei -mabi=ilp32 -nostdlib -static -T "$HERE/link.ld"
  -I "$HERE/include" -Wa,--fatal-warnings -Wl,--build-id=none -Wl,--no-warn-rwx-segments)
mkdir -p "$HERE/build/dump"
if [[ $# -gt 0 ]]; then names=("$@"); else
  names=(); for f in "$HERE"/src/*.S; do names+=("$(basename "$f" .S)"); done
fi
for name in "${names[@]}"; do
  src="$HERE/src/$name.S"
  "$CC" "${FLAGS[@]}" "$src" -o "$HERE/build/$name.elf"
  "$CC" "${FLAGS[@]}" -DSKIFF_DUMP "$src" -o "$HERE/build/dump/$name.elf"
  echo "built build/$name.elf"
done
