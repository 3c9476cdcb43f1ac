#!/usr/bin/env bash
# Boots the Skiff rv32 guest in QEMU, the reference machine: `-M virt` with an rv32ima CPU like
# hv-core's, our SBI shim as firmware, the console on stdin/stdout. Exits with QEMU's status, which
# is the guest's: `poweroff` -> 0. Ctrl-A x quits QEMU.
#
# Usage: guests/linux/qemu-boot.sh [options] [-- <extra qemu args>]
#   --run "<cmds>"   run shell commands at boot, before the prompt (skiff.run="<cmds>")
#   --append "<p>"   extra kernel parameters
#   --disk <file>    the /data disk (default guests/linux/.work/disk.ext2, a copy of rootfs.ext2
#                    made on first use, so the committed image stays pristine)
#   --fresh-disk     re-copy rootfs.ext2 to the default disk first
#   --no-disk        boot without a virtio-blk disk
#   --mem <size>     guest RAM, QEMU syntax (default 128M)
#   --icount         -icount shift=0: one instruction per virtual ns, and rdinstret counts
#                    retired instructions (slower; for measurements)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHIM="$HERE/../sbi-shim/shim.elf"
disk="$HERE/.work/disk.ext2"
fresh=0
use_disk=1
mem=128M
append=""
run=""
icount=()
extra=()

while (($#)); do
  case "$1" in
    --run) run="$2"; shift 2 ;;
    --append) append="$2"; shift 2 ;;
    --disk) disk="$2"; shift 2 ;;
    --fresh-disk) fresh=1; shift ;;
    --no-disk) use_disk=0; shift ;;
    --mem) mem="$2"; shift 2 ;;
    --icount) icount=(-icount shift=0); shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "qemu-boot.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

for f in "$HERE/Image" "$HERE/initramfs.cpio" "$SHIM"; do
  [[ -f "$f" ]] || { echo "qemu-boot.sh: missing $f (run guests/linux/build.sh)" >&2; exit 1; }
done
command -v qemu-system-riscv32 >/dev/null || {
  echo "qemu-boot.sh: qemu-system-riscv32 not found (Debian: apt-get install qemu-system-misc)" >&2
  exit 1
}

cmdline="console=ttyS0 earlycon=sbi"
[[ -n "$append" ]] && cmdline+=" $append"
[[ -n "$run" ]] && cmdline+=" skiff.run=\"$run\""

drive=()
if ((use_disk)); then
  if [[ "$disk" == "$HERE/.work/disk.ext2" && ($fresh == 1 || ! -f "$disk") ]]; then
    mkdir -p "$HERE/.work"
    cp "$HERE/rootfs.ext2" "$disk"
  fi
  drive=(-drive "file=$disk,if=none,format=raw,id=d0" -device virtio-blk-device,drive=d0)
fi

# c/f/d/h off and no bit-manipulation or sstc: the same rv32ima hart as hv-core.
exec qemu-system-riscv32 -M virt -m "$mem" -smp 1 \
  -cpu rv32,c=off,f=off,d=off,h=off,sstc=off,zba=off,zbb=off,zbc=off,zbs=off \
  "${icount[@]}" \
  -bios "$SHIM" -kernel "$HERE/Image" -initrd "$HERE/initramfs.cpio" -append "$cmdline" \
  "${drive[@]}" -nographic "${extra[@]}"
