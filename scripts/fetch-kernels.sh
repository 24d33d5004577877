#!/usr/bin/env bash
# Fetch Debian's cloud kernels (all built with CONFIG_DEBUG_INFO_BTF) for the
# kernel matrix (`make test-kernels`, `make test-arm64`), each into its own
# directory:
#   DIR/bullseye/vmlinuz    5.10   (linux-image-cloud-amd64 of each suite)
#   DIR/bookworm/vmlinuz    6.1
#   DIR/trixie/vmlinuz      6.12
#   DIR/sid/vmlinuz         whatever sid carries now
# with, beside each: config (the kernel's .config), release (its uname -r),
# package (name and version of the .deb) and vmlinux.btf (the raw BTF the
# kernel carries, extracted from vmlinuz: what /sys/kernel/btf/vmlinux
# shows, for `refbpf --btf` tests).
#
# Packages come from Debian's archive through a private apt state under
# DIR/.apt (the host's apt sources and dpkg database are not touched).
#
# usage: scripts/fetch-kernels.sh [DIR] [SUITE...]   (as root; idempotent: a
#        kernel already fetched is kept; default DIR: $REFBPF_KERNELS_DIR or
#        /var/cache/refbpf/kernels, /var/cache/refbpf/arm64/kernels for
#        arm64; default suites: bullseye bookworm trixie sid)
# env:   REFBPF_DEBIAN_MIRROR  (default http://deb.debian.org/debian)
#        REFBPF_KERNEL_ARCH    Debian's architecture: amd64 (default) or arm64
#
# Prints one line per kernel on stdout:
#   fetch-kernels: SUITE RELEASE DIR/SUITE/vmlinuz
# and exits non-zero when any kernel could not be obtained.
set -uo pipefail

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

ARCH=${REFBPF_KERNEL_ARCH:-amd64}
case "$ARCH" in
amd64) DEFAULT_DIR=/var/cache/refbpf/kernels ;;
arm64) DEFAULT_DIR=/var/cache/refbpf/arm64/kernels ;;
*) echo "fetch-kernels: REFBPF_KERNEL_ARCH=$ARCH: amd64 or arm64" >&2; exit 2 ;;
esac
DIR=${1:-${REFBPF_KERNELS_DIR:-$DEFAULT_DIR}}
[ $# -gt 0 ] && shift
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bullseye bookworm trixie sid)
MIRROR=${REFBPF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
FAILED=()

log() { echo "fetch-kernels: $*" >&2; }
fail() { log "FAILED: $*"; return 1; }

[ "$(id -u)" = 0 ] || { log "must run as root (apt-get download, dpkg-deb)"; exit 2; }
mkdir -p "$DIR" || exit 2
DIR=$(cd "$DIR" && pwd -P) || exit 2
STATE="$DIR/.apt"
mkdir -p "$STATE" || exit 2

exec 9>"$STATE/lock"
flock -w 1800 9 || { log "another fetch-kernels holds $STATE/lock"; exit 2; }

# shellcheck source=scripts/apt-private.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-private.sh"

# The raw BTF in an uncompressed arm64 Image (no ELF sections): the BTF
# header (magic 0xeb9f, version 1, 24 bytes) whose type and string sections
# end within the file; the largest such blob is the kernel's.
btf_of_image() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
best = None
at = data.find(b"\x9f\xeb\x01\x00\x18\x00\x00\x00")
while at >= 0:
    type_off, type_len, str_off, str_len = struct.unpack_from("<4I", data, at + 8)
    end = at + 24 + max(type_off + type_len, str_off + str_len)
    if type_off == 0 and str_off == type_len and end <= len(data) and \
            (best is None or end - at > best[1] - best[0]):
        best = (at, end)
    at = data.find(b"\x9f\xeb\x01\x00\x18\x00\x00\x00", at + 1)
if not best or best[1] - best[0] < (1 << 20):
    sys.exit(1)
open(sys.argv[2], "wb").write(data[best[0]:best[1]])
PY
}

# The raw BTF inside a bzImage (amd64) or a compressed Image (arm64): find
# the compressed kernel in it (each compression's magic, tried in turn),
# decompress, and copy out .BTF (of the ELF vmlinux, or of the raw Image,
# checked by bpftool reading it).
extract_btf() {
	local vmlinuz=$1 out=$2 tmp off magic tool
	# Debian's arm64 vmlinuz is the Image itself, uncompressed
	if [ "$ARCH" = arm64 ] && btf_of_image "$vmlinuz" "$out.new" &&
		bpftool btf dump file "$out.new" >/dev/null 2>&1; then
		mv -f "$out.new" "$out"
		return 0
	fi
	tmp=$(mktemp -d) || return 1
	for magic in '28b52ffd:zstd -dc' 'fd377a585a00:xz -dc' '1f8b0800:gzip -dc' \
		'02214c18:lz4 -dc' '5d000000:unlzma -c'; do
		tool=${magic#*:}
		magic=${magic%%:*}
		for off in $(LC_ALL=C grep -obUaP "$(echo "$magic" | sed 's/../\\x&/g')" "$vmlinuz" 2>/dev/null |
			cut -d: -f1 | head -n 4); do
			tail -c +$((off + 1)) "$vmlinuz" | $tool >"$tmp/vmlinux" 2>/dev/null
			if { { readelf -h "$tmp/vmlinux" >/dev/null 2>&1 &&
				objcopy --dump-section .BTF="$out.new" "$tmp/vmlinux" "$tmp/discard" 2>/dev/null; } ||
				{ [ "$ARCH" = arm64 ] && btf_of_image "$tmp/vmlinux" "$out.new" &&
					bpftool btf dump file "$out.new" >/dev/null 2>&1; }; } &&
				[ -s "$out.new" ]; then
				mv -f "$out.new" "$out"
				rm -rf "$tmp"
				return 0
			fi
		done
	done
	rm -rf "$tmp" "$out.new"
	return 1
}

fetch_kernel() {
	local suite=$1 dest="$DIR/$1" pkg ver d deb release
	if [ -s "$dest/vmlinuz" ] && [ -s "$dest/vmlinux.btf" ] && [ -s "$dest/release" ]; then
		echo "fetch-kernels: $suite $(cat "$dest/release") $dest/vmlinuz"
		return 0
	fi
	prepare_state "$suite" "$(deb_line "$suite")" refresh || { fail "$suite: no package lists"; return 1; }
	# The meta package names the suite's current cloud kernel.
	pkg=$(apt_state "$suite" apt-cache depends "linux-image-cloud-$ARCH" 2>/dev/null |
		sed -n "s/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-$ARCH\(-unsigned\)\{0,1\}\)\$/\1/p" | head -n 1)
	[ -n "$pkg" ] || { fail "$suite: linux-image-cloud-$ARCH depends on no kernel image"; return 1; }
	# sid splits the image package: the kernel is in linux-binary-*, its
	# config in linux-base-*.
	local pkgs
	pkgs="$pkg $(apt_state "$suite" apt-cache depends "$pkg" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-\(binary\|base\)-[0-9][^ ]*\)$/\1/p' | tr '\n' ' ')"
	log "$suite: fetching $pkgs"
	d="$STATE/$suite/debs.$$"
	rm -rf "$d" && mkdir -p "$d"
	# shellcheck disable=SC2086
	(cd "$d" && retry apt_state "$suite" apt-get download $pkgs >"$STATE/$suite/download.log" 2>&1) ||
		{ rm -rf "$d"; fail "$suite: apt-get download $pkgs failed (see $STATE/$suite/download.log)"; return 1; }
	ver=$(dpkg-deb -f "$(ls "$d/${pkg}"_*.deb | head -n 1)" Version)
	rm -rf "$dest.new" && mkdir -p "$dest.new/pkg"
	for deb in "$d"/*.deb; do
		dpkg-deb -x "$deb" "$dest.new/pkg" || { rm -rf "$d" "$dest.new"; fail "$suite: cannot unpack $deb"; return 1; }
	done
	rm -rf "$d"
	local img cfg
	img=$(find "$dest.new/pkg" -type f \( -name 'vmlinuz-*' -o -name vmlinuz \) | head -n 1)
	cfg=$(find "$dest.new/pkg" -type f \( -name 'config-*' -o -path '*/modules/*/config' \) | head -n 1)
	[ -n "$img" ] && [ -n "$cfg" ] || { rm -rf "$dest.new"; fail "$suite: $pkgs hold no vmlinuz and config"; return 1; }
	release=${pkg#linux-image-}
	release=${release%-unsigned}
	mv "$img" "$dest.new/vmlinuz" && mv "$cfg" "$dest.new/config"
	echo "$release" >"$dest.new/release"
	echo "$pkg $ver" >"$dest.new/package"
	grep -q '^CONFIG_DEBUG_INFO_BTF=y' "$dest.new/config" ||
		{ rm -rf "$dest.new"; fail "$suite: $release is built without CONFIG_DEBUG_INFO_BTF"; return 1; }
	extract_btf "$dest.new/vmlinuz" "$dest.new/vmlinux.btf" ||
		{ rm -rf "$dest.new"; fail "$suite: cannot extract the BTF from $release's vmlinuz"; return 1; }
	# Modules are not needed: the harness boots into an initramfs.
	rm -rf "$dest.new/pkg" "$dest"
	mv "$dest.new" "$dest"
	echo "fetch-kernels: $suite $release $dest/vmlinuz"
}

ensure_host_packages binutils zstd xz-utils lz4 || { log "cannot install binutils zstd xz-utils lz4"; exit 2; }

for suite in "${SUITES[@]}"; do
	fetch_kernel "$suite" || FAILED+=("$suite")
done
rm -rf "$STATE"/*/archives/*.deb "$STATE"/*/cache/*.bin

if [ ${#FAILED[@]} -gt 0 ]; then
	log "FAILED: ${FAILED[*]}"
	exit 1
fi
exit 0
