#!/usr/bin/env bash
# The arm64 libraries `make ARCH=arm64` cross-builds refbpf against, and the
# static busybox of the arm64 guests (`make test-arm64`), from Debian
# bookworm's archive (a private apt state, APT::Architecture=arm64),
# unpacked with dpkg-deb -x into a sysroot:
#   DIR/usr/include/...                        bpf/, elfutils/, libelf.h, zlib.h ...
#   DIR/usr/lib/aarch64-linux-gnu/lib*.{a,so}  libbpf, libelf, libdw, zlib,
#                                              lzma, bz2, zstd
#   DIR/bin/busybox                            busybox-static
# Only these packages, not their closure: the C library and the kernel's
# UAPI headers are the cross toolchain's (gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross), installed on the host here when missing.
#
# usage: scripts/arm64-sysroot.sh [DIR]   (as root; idempotent: a complete
#        sysroot is kept; default DIR: $REFBPF_ARM64_SYSROOT or
#        /var/cache/refbpf/arm64/sysroot)
# env:   REFBPF_DEBIAN_MIRROR  (default http://deb.debian.org/debian)
#
# Prints the sysroot's path on stdout.
set -uo pipefail

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

DIR=${1:-${REFBPF_ARM64_SYSROOT:-/var/cache/refbpf/arm64/sysroot}}
MIRROR=${REFBPF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ARCH=arm64
SUITE=bookworm
PACKAGES=(libbpf-dev libbpf1 libelf-dev libelf1 libdw-dev libdw1 zlib1g-dev zlib1g
	liblzma-dev liblzma5 libbz2-dev libbz2-1.0 libzstd-dev libzstd1 busybox-static)
# what a complete sysroot has: a static and a shared library of each
WANTED="libbpf libelf libdw libz liblzma libbz2 libzstd"

log() { echo "arm64-sysroot: $*" >&2; }
fail() { log "FAILED: $*"; return 1; }

complete() {
	local l
	for l in $WANTED; do
		[ -f "$DIR/usr/lib/aarch64-linux-gnu/$l.a" ] && [ -e "$DIR/usr/lib/aarch64-linux-gnu/$l.so" ] ||
			return 1
	done
	[ -f "$DIR/usr/include/bpf/libbpf.h" ] && [ -f "$DIR/usr/include/elfutils/libdwfl.h" ] &&
		[ -x "$DIR/bin/busybox" ]
}

[ "$(id -u)" = 0 ] || { log "must run as root (apt-get download, dpkg-deb)"; exit 2; }
mkdir -p "$DIR" || exit 2
DIR=$(cd "$DIR" && pwd -P) || exit 2
STATE="$(dirname "$DIR")/.apt"
mkdir -p "$STATE" || exit 2
exec 9>"$STATE/sysroot.lock"
flock -w 1800 9 || { log "another arm64-sysroot holds $STATE/sysroot.lock"; exit 2; }

# shellcheck source=scripts/apt-private.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-private.sh"

ensure_host_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross ||
	{ log "cannot install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"; exit 2; }

if complete; then
	echo "$DIR"
	exit 0
fi
prepare_state "$SUITE" "$(deb_line "$SUITE")" refresh || exit 1
d="$STATE/$SUITE/sysroot-debs.$$"
rm -rf "$d" "$DIR.new" && mkdir -p "$d" "$DIR.new"
(cd "$d" && retry apt_state "$SUITE" apt-get download "${PACKAGES[@]}" >"$STATE/$SUITE/sysroot-download.log" 2>&1) ||
	{ rm -rf "$d" "$DIR.new"; fail "apt-get download ${PACKAGES[*]} (see $STATE/$SUITE/sysroot-download.log)"; exit 1; }
for deb in "$d"/*.deb; do
	dpkg-deb -x "$deb" "$DIR.new" || { rm -rf "$d" "$DIR.new"; fail "cannot unpack $deb"; exit 1; }
done
rm -rf "$d" "$DIR"
mv "$DIR.new" "$DIR"
# the -dev packages' .so links are absolute (/lib/...): into the sysroot
find "$DIR" -type l -lname '/*' -print0 | while IFS= read -r -d '' l; do
	t=$(readlink "$l")
	[ -e "$DIR$t" ] && ln -sfn "$(realpath -ms --relative-to="$(dirname "$l")" "$DIR$t")" "$l"
done
complete || { fail "$DIR lacks a library of: $WANTED"; exit 1; }
log "$DIR: $(cat "$DIR"/usr/share/doc/libbpf1/changelog.Debian.gz 2>/dev/null | gzip -dc 2>/dev/null | head -n1)"
echo "$DIR"
