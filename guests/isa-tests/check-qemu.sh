#!/usr/bin/env bash
# Runs every build/*.elf on the reference machine (QEMU spike, HTIF) and prints PASS/FAIL per test;
# for tests with a signature, also runs build/dump/<name>.elf and compares the printed signature
# with ref/<name>.signature (--update-refs rewrites the refs from QEMU instead).
# Exit status 1 if anything failed. Usage: guests/isa-tests/check-qemu.sh [--update-refs] [name...]
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QEMU="${QEMU:-qemu-system-riscv32}"
# An RV32IMA machine: no C (jumps to 2 mod 4 must trap), no F/D, no H, no Sstc, no B/K/Sv* extras
# (their encodings must be illegal here). pmu-num=29: all of mhpmcounter3-31 exist, as the
# privileged spec has them (QEMU 7.2 defaults to 16 and makes the rest illegal).
CPU="${QEMU_CPU:-rv32,c=off,f=off,d=off,h=off,sstc=off,zba=off,zbb=off,zbc=off,zbs=off,zbkb=off,zbkc=off,zbkx=off,zknd=off,zkne=off,zknh=off,zksed=off,zksh=off,zkr=off,svinval=off,svnapot=off,svpbmt=off,pmu-num=29}"
update=0
if [[ "${1:-}" == "--update-refs" ]]; then update=1; shift; fi
if [[ $# -gt 0 ]]; then names=("$@"); else
  names=(); for f in "$HERE"/build/*.elf; do names+=("$(basename "$f" .elf)"); done
fi
NM="$(command -v riscv64-unknown-elf-nm || echo nm)"
# Tests with the symbol skiff_virt need the PLIC and UART: QEMU's virt machine (see skiff_test.h).
machine() { if $NM "$1" 2>/dev/null | grep -q ' skiff_virt$'; then echo virt; else echo spike; fi; }
run() { timeout 20 "$QEMU" -M "$(machine "$1")" -bios none -nographic -cpu "$CPU" -kernel "$1" </dev/null; }
pass=0; fail=0
for name in "${names[@]}"; do
  out="$(run "$HERE/build/$name.elf" 2>&1)"; rc=$?
  status=PASS; detail=""
  if [[ $rc -ne 0 ]]; then
    status=FAIL
    # QEMU exits with the test number modulo 256
    if [[ $rc -eq 124 ]]; then detail=" (timeout)"; else detail=" (test $rc mod 256)"; fi
    dump="$(run "$HERE/build/dump/$name.elf" 2>&1 | tr -d '\r')"
    [[ -n "$dump" ]] && detail="$detail last trap: $(echo "$dump" | tail -4 | tr '\n' ' ')"
  elif $NM "$HERE/build/$name.elf" 2>/dev/null | grep -q ' begin_signature$'; then
    sig="$(run "$HERE/build/dump/$name.elf" 2>/dev/null | tr -d '\r')"
    if [[ $update -eq 1 ]]; then
      printf '%s\n' "$sig" >"$HERE/ref/$name.signature"; detail=" (signature ref updated)"
    elif [[ "$sig" != "$(cat "$HERE/ref/$name.signature" 2>/dev/null)" ]]; then
      status=FAIL; detail=" (signature differs from ref/$name.signature)"
    fi
  fi
  echo "$status $name$detail"
  if [[ $status == PASS ]]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
