#!/usr/bin/env bash
# Times build/{int,mem,sv32}.elf on QEMU (TCG, spike machine, HTIF exit) as the reference figure:
# prints "name seconds status" per guest, best of RUNS (default 3) wall-clock runs.
# Usage: guests/bench/run-qemu.sh [name...]   Env: QEMU, RUNS
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QEMU="${QEMU:-qemu-system-riscv32}"
RUNS="${RUNS:-3}"
if [[ $# -gt 0 ]]; then names=("$@"); else names=(int mem sv32); fi
status=0
for name in "${names[@]}"; do
  best=""
  for _ in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    timeout 300 "$QEMU" -M spike -bios none -nographic -cpu rv32,c=off,f=off,d=off,h=off,sstc=off \
      -kernel "$HERE/build/$name.elf" </dev/null >/dev/null 2>&1
    rc=$?
    end=$(date +%s.%N)
    secs=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
    if [[ $rc -ne 0 ]]; then echo "$name FAIL (exit $rc)"; status=1; continue 2; fi
    if [[ -z "$best" ]] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$secs; fi
  done
  echo "$name $best s PASS"
done
exit $status
