#!/usr/bin/env bash
# Builds the Skiff rv32 Linux guest from Debian packages only:
#   guests/linux/Image           kernel (Linux 6.1 from linux-source-6.1), load at 0x80400000
#   guests/linux/initramfs.cpio  uncompressed newc archive: /init + /bin/sh (C, nolibc, static rv32)
#                                and BusyBox (static, against musl) in /usr/bin, /usr/sbin
#                                and Dropbear (static, against musl): the SSH server, keys only
#   guests/linux/rootfs.ext2     small writable ext2 disk, mounted at /data by /init
# Usage: guests/linux/build.sh [--clean]
# Env:   SKIFF_LINUX_WORK (default guests/linux/.work, git-ignored), JOBS (default: nproc)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${SKIFF_LINUX_WORK:-$HERE/.work}"
JOBS="${JOBS:-$(nproc)}"
SRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
CROSS=riscv64-linux-gnu-
# musl and BusyBox come from Debian 13 (trixie) source packages, pinned (apt/trixie-src.sources).
MUSL_DEB=1.2.5-3.1~deb13u1
BUSYBOX_DEB=1:1.37.0-6
DROPBEAR_DEB=2025.89-1~deb13u1
DISK_MIB=8
# Fixed values so two builds of the same inputs give the same bytes.
export KBUILD_BUILD_TIMESTAMP="2026-01-01 00:00:00 UTC" KBUILD_BUILD_USER=skiff KBUILD_BUILD_HOST=skiff
# the build number (#N in the version string) otherwise counts rebuilds of the work dir
export KBUILD_BUILD_VERSION=1
export SOURCE_DATE_EPOCH=1767225600 E2FSPROGS_FAKE_TIME=1767225600

log() { printf '[build.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if [[ "${1:-}" == "--clean" ]]; then rm -rf "$WORK"; fi

# --- 1. Debian packages -----------------------------------------------------------------------
need_pkgs=()
need() { command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2"); }
need ${CROSS}gcc gcc-riscv64-linux-gnu
need make make
need bc bc
need flex flex
need bison bison
need cpio cpio
need mke2fs e2fsprogs
need xz xz-utils
need perl perl
need rsync rsync
need dpkg-source dpkg-dev
need riscv64-unknown-elf-gcc gcc-riscv64-unknown-elf
[[ -f "$SRC_TARBALL" ]] || need_pkgs+=(linux-source-6.1)
if ((${#need_pkgs[@]})); then
  if [[ "$(id -u)" == 0 ]]; then
    log "installing Debian packages: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}"
  else
    echo "build.sh: missing Debian packages: ${need_pkgs[*]}" >&2
    echo "  run as root, or: sudo apt-get install ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

# --- 2. Kernel source (unpacked once, never written to: builds go to O=) ----------------------
SRC="$WORK/linux-source-6.1"
OUT="$WORK/build"
HDR="$WORK/headers"
mkdir -p "$WORK"
if [[ ! -f "$SRC/.unpacked" ]]; then
  log "unpacking $SRC_TARBALL"
  rm -rf "$SRC"
  tar -C "$WORK" -xJf "$SRC_TARBALL"
  touch "$SRC/.unpacked"
fi
KMAKE=(make -C "$SRC" O="$OUT" ARCH=riscv CROSS_COMPILE="$CROSS" -j"$JOBS")
KVERSION="$(make -s -C "$SRC" kernelversion)"

# --- 3. Configuration: tinyconfig + our fragment ----------------------------------------------
mkdir -p "$OUT"
if [[ ! -f "$OUT/.config" || "$HERE/kernel.config" -nt "$OUT/.config" ]]; then
  log "configuring Linux $KVERSION (tinyconfig + kernel.config)"
  "${KMAKE[@]}" -s tinyconfig
  (cd "$OUT" && ARCH=riscv "$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" "$HERE/kernel.config" >/dev/null)
  "${KMAKE[@]}" -s olddefconfig
fi
# Every symbol we ask for must survive olddefconfig (a missing dependency silently drops it).
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$OUT/.config" || { echo "build.sh: config lost: $line" >&2; missing=1; } ;;
    "# CONFIG_"*" is not set") sym="${line#\# }"; sym="${sym%% *}"
      ! grep -q "^$sym=" "$OUT/.config" || { echo "build.sh: config still set: $sym" >&2; missing=1; } ;;
  esac
done <"$HERE/kernel.config"
((missing == 0)) || exit 1

# --- 4. Kernel and uapi headers (separate dir: headers_install in-tree breaks O= builds) ------
log "building kernel (make -j$JOBS Image)"
start=$(date +%s)
"${KMAKE[@]}" -s Image
"${KMAKE[@]}" -s headers_install INSTALL_HDR_PATH="$HDR"
log "kernel done in $(($(date +%s) - start)) s"

# --- 5. Userland: /init and /bin/sh against nolibc --------------------------------------------
# rv32.h includes nolibc.h after papering over the syscalls rv32 lacks (see the comment there).
USR="$WORK/userland"
mkdir -p "$USR"
CFLAGS=(-march=rv32ima -mabi=ilp32 -Os -static -nostdlib -nostdinc -ffreestanding -fno-stack-protector
  -fno-asynchronous-unwind-tables -fno-ident -Wall -Wextra -Wno-unused-parameter -Werror
  -isystem "$("${CROSS}gcc" -print-file-name=include)" -isystem "$HDR/include"
  -I "$SRC/tools/include/nolibc" -include "$HERE/userland/rv32.h" -I "$HERE/userland"
  -Wl,--build-id=none -Wl,-z,noexecstack -s)
for prog in init sh; do
  "${CROSS}gcc" "${CFLAGS[@]}" -o "$USR/$prog" "$HERE/userland/$prog.c"
done
# objdump prints 4 hex digits for a 16-bit (compressed) instruction, 8 for a 32-bit one.
if "${CROSS}objdump" -d "$USR/init" "$USR/sh" | grep -qE '^\s+[0-9a-f]+:\s+[0-9a-f]{4}\s'; then
  echo "build.sh: compressed instructions in userland" >&2
  exit 1
fi

# --- 5b. musl and BusyBox from Debian's trixie sources ------------------------------------------
# Debian's riscv64 cross gcc compiles rv32 fine but ships only an rv64 libgcc; the bare-metal
# toolchain's multilib libgcc for rv32/ilp32 provides the helpers rv32 needs (64-bit division).
APT_OPTS=(-o Dir::Etc::SourceList="$HERE/apt/trixie-src.sources" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$WORK/apt/lists" -o Dir::Cache="$WORK/apt/cache")
fetch_source() { # <package> <debian version> <dir>
  [[ -f "$3/.unpacked" ]] && return
  mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/apt/src"
  [[ -n "$(ls "$WORK/apt/lists" 2>/dev/null | grep trixie)" ]] || apt-get -q "${APT_OPTS[@]}" update
  log "fetching Debian source $1 $2"
  (cd "$WORK/apt/src" && apt-get -q "${APT_OPTS[@]}" source --download-only "$1=$2")
  rm -rf "$3"
  dpkg-source -x "$WORK/apt/src/$1_${2#*:}.dsc" "$3" >/dev/null
  touch "$3/.unpacked"
}
MUSL_SRC="$WORK/musl-src"
BB_SRC="$WORK/busybox-src"
MUSL="$WORK/musl"
fetch_source musl "$MUSL_DEB" "$MUSL_SRC"
fetch_source busybox "$BUSYBOX_DEB" "$BB_SRC"
RV32=(-march=rv32ima -mabi=ilp32)
LIBGCC="$(riscv64-unknown-elf-gcc "${RV32[@]}" -print-libgcc-file-name)"
if [[ ! -f "$MUSL/lib/libc.a" ]]; then
  log "building musl $MUSL_DEB (riscv32, soft-float)"
  (cd "$MUSL_SRC" && CC="${CROSS}gcc ${RV32[*]}" AR="${CROSS}ar" RANLIB="${CROSS}ranlib" \
    CFLAGS="-Os -ffile-prefix-map=$MUSL_SRC=." ./configure -q --target=riscv32-linux-musl \
    --prefix="$MUSL" --disable-shared --disable-wrapper >/dev/null &&
    make -s -j"$JOBS" && make -s install >/dev/null)
fi
# cc for BusyBox: compiles against musl's and the kernel's uapi headers, links musl's crt and libc.a
# plus that libgcc; partial links (-r, -nostdlib) pass through.
CC_MUSL="$WORK/rv32-musl-cc"
cat >"$CC_MUSL" <<CC
#!/bin/sh
for a; do case "\$a" in -c|-E|-S|-r|-nostdlib|-print-*|-v|--version|-dumpversion|-dumpmachine) exec ${CROSS}gcc ${RV32[*]} -fno-pie -nostdinc -isystem "$MUSL/include" -isystem "$HDR/include" -isystem "$("${CROSS}gcc" -print-file-name=include)" "\$@";; esac; done
exec ${CROSS}gcc ${RV32[*]} -fno-pie -no-pie -static -nostdlib -nostdinc -isystem "$MUSL/include" -Wl,--build-id=none \
  "$MUSL/lib/crt1.o" "$MUSL/lib/crti.o" "\$@" -L"$MUSL/lib" -Wl,--start-group "$MUSL/lib/libc.a" "$LIBGCC" -Wl,--end-group "$MUSL/lib/crtn.o"
CC
chmod +x "$CC_MUSL"
# The fragment goes onto allnoconfig (this kconfig ignores KCONFIG_ALLCONFIG for it); applying it
# again after oldconfig reaches options that only appear once their parent is on.
bb_apply() {
  local line sym
  while IFS= read -r line; do
    case "$line" in CONFIG_*=*) ;; *) continue ;; esac
    sym="${line%%=*}"
    [[ "$line" == *=n ]] && line="# $sym is not set"
    if grep -qE "^(# )?$sym[= ]" "$BB_SRC/.config"; then
      sed -i -E "s|^(# )?$sym([= ].*)?\$|$line|" "$BB_SRC/.config"
    else
      printf '%s\n' "$line" >>"$BB_SRC/.config"
    fi
  done <"$HERE/busybox.config"
}
BBMAKE=(make -C "$BB_SRC" CC="$CC_MUSL" HOSTCC=gcc CROSS_COMPILE="$CROSS" -j"$JOBS"
  CONFIG_EXTRA_CFLAGS= SKIP_STRIP=n KBUILD_VERBOSE=0)
if [[ ! -f "$BB_SRC/.config" || "$HERE/busybox.config" -nt "$BB_SRC/.config" ]]; then
  log "configuring BusyBox (allnoconfig + busybox.config)"
  "${BBMAKE[@]}" -s allnoconfig >/dev/null
  for _ in 1 2 3; do bb_apply; (yes "" || true) | "${BBMAKE[@]}" -s oldconfig >/dev/null; done
fi
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=n) ! grep -q "^${line%=n}=" "$BB_SRC/.config" || { echo "build.sh: busybox config still set: $line" >&2; missing=1; } ;;
    CONFIG_*=*) grep -qxF "$line" "$BB_SRC/.config" || { echo "build.sh: busybox config lost: $line" >&2; missing=1; } ;;
  esac
done <"$HERE/busybox.config"
((missing == 0)) || exit 1
log "building BusyBox"
"${BBMAKE[@]}" -s busybox >/dev/null
if "${CROSS}objdump" -d "$BB_SRC/busybox" | grep -qE '^\s+[0-9a-f]+:\s+[0-9a-f]{4}\s'; then
  echo "build.sh: compressed instructions in BusyBox" >&2
  exit 1
fi
# busybox.links names each applet's usual home (/bin/ls, /sbin/ip ...); here every applet goes to
# /usr/bin or /usr/sbin, so that nothing replaces /bin/sh and our shell finds them by PATH.
"${BBMAKE[@]}" -s busybox.links >/dev/null
cp "$BB_SRC/busybox" "$USR/busybox"
BB_LINKS="$(sed -E 's|^/(usr/)?bin/|/usr/bin/|; s|^/(usr/)?sbin/|/usr/sbin/|' "$BB_SRC/busybox.links" | sort -u)"
log "BusyBox: $(stat -c %s "$USR/busybox") B, $(wc -l <<<"$BB_LINKS") applets"

# --- 5c. Dropbear from Debian's trixie sources: the SSH server (keys only, dropbear-options.h) -----
# One static multi-call binary for the server and its key generator, against the same musl.
DB_SRC="$WORK/dropbear-src"
fetch_source dropbear "$DROPBEAR_DEB" "$DB_SRC"
if [[ ! -f "$DB_SRC/dropbearmulti" || "$HERE/dropbear-options.h" -nt "$DB_SRC/dropbearmulti" ]]; then
  log "building Dropbear $DROPBEAR_DEB"
  cp "$HERE/dropbear-options.h" "$DB_SRC/localoptions.h"
  (cd "$DB_SRC" && rm -f dropbearmulti && if [[ ! -f Makefile ]]; then
    CC="$CC_MUSL" CFLAGS="-Os -ffile-prefix-map=$DB_SRC=." ./configure -q --host=riscv32-linux-musl \
      --enable-static --disable-harden --disable-zlib --disable-pam --disable-lastlog --disable-utmp \
      --disable-utmpx --disable-wtmp --disable-wtmpx --disable-loginfunc --disable-pututline \
      --disable-pututxline --enable-bundled-libtom --disable-syslog >/dev/null
  fi && make -s -j"$JOBS" PROGRAMS="dropbear dropbearkey" MULTI=1 STATIC=1 >/dev/null)
fi
"${CROSS}strip" -o "$USR/dropbearmulti" "$DB_SRC/dropbearmulti"
if "${CROSS}objdump" -d "$USR/dropbearmulti" | grep -qE '^\s+[0-9a-f]+:\s+[0-9a-f]{4}\s'; then
  echo "build.sh: compressed instructions in Dropbear" >&2
  exit 1
fi
log "Dropbear: $(stat -c %s "$USR/dropbearmulti") B"

# --- 6. initramfs (uncompressed newc, fixed mtimes) --------------------------------------------
cat >"$USR/initramfs.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0555 0 0
dir /sys 0555 0 0
dir /data 0755 0 0
dir /tmp 01777 0 0
dir /bin 0755 0 0
file /init $USR/init 0755 0 0
file /bin/sh $USR/sh 0755 0 0
file /bin/busybox $USR/busybox 0755 0 0
dir /usr 0755 0 0
dir /usr/bin 0755 0 0
dir /usr/sbin 0755 0 0
dir /etc 0755 0 0
dir /www 0755 0 0
dir /root 0700 0 0
dir /etc/skiff 0755 0 0
file /usr/sbin/dropbearmulti $USR/dropbearmulti 0755 0 0
slink /usr/sbin/dropbear /usr/sbin/dropbearmulti 0777 0 0
slink /usr/bin/dropbearkey /usr/sbin/dropbearmulti 0777 0 0
LIST
mkdir -p "$USR/etc"
for f in inetd.conf services passwd group hosts; do
  cp "$HERE/userland/etc/$f" "$USR/etc/$f"
  echo "file /etc/$f $USR/etc/$f 0644 0 0" >>"$USR/initramfs.list"
done
mkdir -p "$USR/etc/skiff"
cp "$HERE/userland/etc/skiff/sshd" "$USR/etc/skiff/sshd"
echo "file /etc/skiff/sshd $USR/etc/skiff/sshd 0755 0 0" >>"$USR/initramfs.list"
while IFS= read -r link; do
  echo "slink $link /bin/busybox 0777 0 0" >>"$USR/initramfs.list"
done <<<"$BB_LINKS"
# gen_init_cpio's -t covers directories and nodes; regular files keep their own mtime
touch -d "@$SOURCE_DATE_EPOCH" "$USR/init" "$USR/sh" "$USR/busybox" "$USR/dropbearmulti" "$USR"/etc/* "$USR"/etc/skiff/*
"$OUT/usr/gen_init_cpio" -t "$SOURCE_DATE_EPOCH" "$USR/initramfs.list" >"$HERE/initramfs.cpio"

# --- 7. Writable /data disk --------------------------------------------------------------------
DISKROOT="$WORK/diskroot"
rm -rf "$DISKROOT" && mkdir -p "$DISKROOT"
printf 'Skiff data disk. Files written here survive a reboot.\n' >"$DISKROOT/README"
touch -d "@$SOURCE_DATE_EPOCH" "$DISKROOT/README" "$DISKROOT"
rm -f "$HERE/rootfs.ext2"
mke2fs -q -t ext2 -b 1024 -m 0 -L skiff-data -U 5c1ff000-0000-4000-8000-000000000001 \
  -E hash_seed=5c1ff000-0000-4000-8000-000000000002,root_owner=0:0 -I 256 -N 256 \
  -d "$DISKROOT" "$HERE/rootfs.ext2" "${DISK_MIB}M"
# mke2fs -d copies each file's ctime, which nobody can set on the host: pin it in the image
debugfs -w -R "set_inode_field /README ctime $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S)" \
  "$HERE/rootfs.ext2" >/dev/null 2>&1

cp "$OUT/arch/riscv/boot/Image" "$HERE/Image"

# --- 8. SBI shim for QEMU (the reference machine) ----------------------------------------------
"$HERE/../sbi-shim/build.sh"

# --- 9. Manifest: what CI checks the committed artifacts against --------------------------------
(cd "$HERE/.." && sha256sum linux/Image linux/initramfs.cpio linux/rootfs.ext2 sbi-shim/shim.elf) \
  >"$HERE/artifacts.sha256"
log "Linux $KVERSION: Image $(stat -c %s "$HERE/Image") B, initramfs.cpio $(stat -c %s "$HERE/initramfs.cpio") B, rootfs.ext2 $(stat -c %s "$HERE/rootfs.ext2") B"
