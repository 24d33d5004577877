#!/usr/bin/env bash
# Fetch the Debian interpreters the tests use into a cache directory, each in
# its own tree that runs on this host with no environment variables:
#   DIR/bullseye-3.9/usr/bin/python3.9     (3.9.2, static non-PIE)
#   DIR/trixie-3.13/usr/bin/python3.13     (3.13.5)
#   DIR/sid-3.X/usr/bin/python3.X          (every python3.X sid has, >= 3.13;
#                                           3.14 and 3.15 are required)
#   DIR/trixie-3.13t/usr/bin/python3.13t   (free-threaded, built here from
#                                           trixie's python3.13 source package)
#   DIR/sid-3.14t/usr/bin/python3.14t      (free-threaded, from sid's python3.14,
#                                           or a pinned 3.14 orig tarball when
#                                           the mirror lacks sid's current one)
#   DIR/sid-3.15t/usr/bin/python3.15t      (free-threaded, likewise for 3.15)
#
# Packages come from Debian's archive through a private apt state under
# DIR/.apt (the host's apt sources and dpkg database are not touched; nothing
# from these releases is installed on the host). Each tree is the unpacked
# closure of python3.X-minimal + libpython3.X-stdlib (libc6 included), and
# its binary is patched in place (patchelf: the tree's own ld.so as
# interpreter, the tree's lib dirs as DT_RPATH), so it runs on an older host
# glibc, /proc/PID/exe is the python binary, and sys.prefix is the tree. The
# unpatched binary is kept as python3.X.orig (same build-id). Detached DWARF
# from python3.X-dbg is kept at DIR/NAME/usr/lib/debug/.build-id/xx/yyyy.debug
# (only the file named by the binary's build-id).
#
# With REFBPF_PYTHON_ARCH=arm64: Debian's arm64 interpreters for the arm64
# guests (`make test-arm64`), bullseye-3.9, bookworm-3.11 and trixie-3.13,
# patched the same way but never run here (their ELF is checked instead);
# no free-threaded trees: those are built here, so only for this host's own
# architecture.
#
# usage: scripts/fetch-pythons.sh [DIR]   (as root; idempotent: a tree that
#        already works is kept; default DIR: $REFBPF_PYTHONS_DIR or
#        /var/cache/refbpf/pythons, /var/cache/refbpf/arm64/pythons for arm64)
# env:   REFBPF_DEBIAN_MIRROR  (default http://deb.debian.org/debian)
#        REFBPF_PYTHON_ARCH    Debian's architecture: amd64 (default) or arm64
#        REFBPF_FETCH_JOBS     (make -j for the free-threaded builds, default: nproc)
#
# Prints one line per interpreter on stdout:
#   fetch-pythons: NAME PATH VERSION static|pie dwarf: yes|no
# and exits non-zero when any interpreter, or the DWARF or C headers of a
# Debian one, could not be obtained (the others are still fetched; each
# failure is explained on stderr).
set -uo pipefail

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

ARCH=${REFBPF_PYTHON_ARCH:-amd64}
case "$ARCH" in
amd64) DEFAULT_DIR=/var/cache/refbpf/pythons TRIPLET=x86_64-linux-gnu LOADER=ld-linux-x86-64.so.2
	MACHINE='Advanced Micro Devices X86-64' ;;
arm64) DEFAULT_DIR=/var/cache/refbpf/arm64/pythons TRIPLET=aarch64-linux-gnu LOADER=ld-linux-aarch64.so.1
	MACHINE=AArch64 ;;
*) echo "fetch-pythons: REFBPF_PYTHON_ARCH=$ARCH: amd64 or arm64" >&2; exit 2 ;;
esac
# another architecture's interpreters are not run here
FOREIGN=$([ "$ARCH" = "$(dpkg --print-architecture)" ] || echo 1)
DIR=${1:-${REFBPF_PYTHONS_DIR:-$DEFAULT_DIR}}
MIRROR=${REFBPF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
JOBS=${REFBPF_FETCH_JOBS:-$(nproc 2>/dev/null || echo 2)}
FAILED=()

log() { echo "fetch-pythons: $*" >&2; }
fail() { log "FAILED: $*"; return 1; }

[ "$(id -u)" = 0 ] || { log "must run as root (apt-get download, dpkg-deb, host build tools)"; exit 2; }
mkdir -p "$DIR" || exit 2
DIR=$(cd "$DIR" && pwd -P) || exit 2 # absolute: it ends up in RPATHs and --prefix
STATE="$DIR/.apt"
mkdir -p "$STATE" || exit 2

# One run at a time per DIR.
exec 9>"$STATE/lock"
flock -w 1800 9 || { log "another fetch-pythons holds $STATE/lock"; exit 2; }

# shellcheck source=scripts/apt-private.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-private.sh"

# --- host tools --------------------------------------------------------------

HOST_TOOLS=(patchelf dpkg-dev binutils build-essential pkgconf lz4 curl)
# Development headers for the free-threaded builds (bookworm's; only build inputs;
# 3.14+ build compression.zstd on libzstd).
HOST_BUILD_DEPS=(libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev libsqlite3-dev
	libexpat1-dev libreadline-dev libncurses-dev libgdbm-dev uuid-dev libzstd-dev)

# Unpack the closure of PACKAGES (as resolved from an empty system) into TREE.
unpack_closure() {
	local suite=$1 tree=$2
	shift 2
	local pkgs d
	pkgs=$(apt_state "$suite" apt-get -s install --no-install-recommends "$@" 2>"$STATE/$suite/resolve.log" |
		awk '/^Inst /{print $2}')
	[ -n "$pkgs" ] || { fail "$suite: cannot resolve $* (see $STATE/$suite/resolve.log)"; return 1; }
	d="$STATE/$suite/debs.$$"
	rm -rf "$d" && mkdir -p "$d"
	# shellcheck disable=SC2086
	(cd "$d" && retry apt_state "$suite" apt-get download $pkgs >"$STATE/$suite/download.log" 2>&1) ||
		{ rm -rf "$d"; fail "$suite: apt-get download failed (see $STATE/$suite/download.log)"; return 1; }
	local deb
	for deb in "$d"/*.deb; do
		dpkg-deb -x "$deb" "$tree" || { rm -rf "$d"; fail "$suite: cannot unpack $deb"; return 1; }
	done
	rm -rf "$d"
}

# --- per-tree helpers -------------------------------------------------------------

build_id() { readelf -n "$1" 2>/dev/null | awk '/Build ID/{print $3; exit}'; }

debug_rel() {
	local id
	id=$(build_id "$1")
	[ -n "$id" ] && echo "usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
}

# Keep only the DWARF file named by the binary's build-id from python3.X-dbg.
keep_dwarf() {
	local suite=$1 tree=$2 ver=$3 bin=$4 rel d deb
	rel=$(debug_rel "$bin") || return 1
	[ -n "$rel" ] || return 1
	[ -s "$tree/$rel" ] && return 0
	d="$STATE/$suite/dbg.$$"
	rm -rf "$d" && mkdir -p "$d"
	if (cd "$d" && retry apt_state "$suite" apt-get download "python$ver-dbg" >/dev/null 2>&1); then
		deb=$(ls "$d"/*.deb 2>/dev/null | head -n1)
		[ -n "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$d" "./$rel" 2>/dev/null
		if [ -s "$d/$rel" ]; then
			mkdir -p "$(dirname "$tree/$rel")"
			mv "$d/$rel" "$tree/$rel"
		fi
	fi
	rm -rf "$d"
	[ -s "$tree/$rel" ]
}

# C headers from libpython3.X-dev (usr/include only, not its dependencies),
# so the tests can build a C extension against this interpreter (--native).
keep_headers() {
	local suite=$1 tree=$2 ver=$3 d deb
	[ -s "$tree/usr/include/python$ver/Python.h" ] && return 0
	d="$STATE/$suite/dev.$$"
	rm -rf "$d" && mkdir -p "$d"
	if (cd "$d" && retry apt_state "$suite" apt-get download "libpython$ver-dev" >/dev/null 2>&1); then
		deb=$(ls "$d"/*.deb 2>/dev/null | head -n1)
		[ -n "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tree" ./usr/include 2>/dev/null
	fi
	rm -rf "$d"
	[ -s "$tree/usr/include/python$ver/Python.h" ]
}

# Absolute symlinks whose target the tree itself has (sitecustomize.py ->
# /etc/python3.X/..., lib64/ld-linux...) are made relative, so they stay in
# the tree instead of reaching into the host's /etc or /lib.
localize_symlinks() {
	local tree=$1 l t
	find "$tree" -type l -lname '/*' -print0 2>/dev/null |
		while IFS= read -r -d '' l; do
			t=$(readlink "$l")
			[ -e "$tree$t" ] || [ -L "$tree$t" ] || continue
			ln -sfn "$(realpath -ms --relative-to="$(dirname "$l")" "$tree$t")" "$l"
		done
}

# Point the binary at the tree's own loader and libraries (in place; the
# original is kept as BIN.orig).
patch_binary() {
	local tree=$1 bin=$2 ld="" cand real
	for cand in "$tree/usr/lib/$TRIPLET/$LOADER" "$tree/lib/$TRIPLET/$LOADER"; do
		real=$(readlink -f "$cand" 2>/dev/null) || continue
		case "$real" in "$tree"/*) [ -f "$real" ] && { ld=$cand; break; } ;; esac
	done
	[ -n "$ld" ] || { fail "no $LOADER in $tree"; return 1; }
	[ -f "$bin.orig" ] || cp -p "$bin" "$bin.orig" || return 1
	cp -p "$bin.orig" "$bin.new" &&
		patchelf --set-interpreter "$ld" --force-rpath \
			--set-rpath "$tree/usr/lib/$TRIPLET:$tree/lib/$TRIPLET:$tree/usr/lib:$tree/lib" \
			"$bin.new" &&
		mv -f "$bin.new" "$bin"
}

# check BIN TREE [freethreaded]: the interpreter runs with an empty
# environment, /proc/self/exe is BIN itself, sys.prefix is TREE/usr, and the
# usual stdlib (with the C extensions that bring their own libraries) imports.
CHECK_PY='
import os, sys
exe, prefix, ft = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
import json, threading, http.server, ssl, sqlite3, ctypes, zlib, lzma, bz2, decimal, hashlib, socket, select
assert os.path.realpath("/proc/self/exe") == os.path.realpath(exe), os.readlink("/proc/self/exe")
assert os.path.realpath(sys.prefix) == os.path.realpath(prefix), sys.prefix
assert os.path.realpath(sys.executable) == os.path.realpath(exe), sys.executable
if ft:
    import sysconfig
    assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1, "Py_GIL_DISABLED"
    assert sys._is_gil_enabled() is False, "GIL enabled"
print("ok")
'
check() {
	local bin=$1 tree=$2 ft=${3:-0} out
	[ -x "$bin" ] || { echo "$bin: missing"; return 1; }
	[ -n "$FOREIGN" ] && { check_foreign "$bin" "$tree"; return; }
	out=$(cd / && env -i "$bin" -c "$CHECK_PY" "$bin" "$tree/usr" "$ft" 2>&1)
	[ "$out" = ok ] || { echo "$out" | tail -n 3; return 1; }
}

# Another architecture's binary: its machine, and the loader and
# libraries it was patched to take from the tree are there.
check_foreign() {
	local bin=$1 tree=$2 interp
	readelf -h "$bin" 2>/dev/null | grep -q "Machine: *$MACHINE" || { echo "$bin: not $MACHINE"; return 1; }
	interp=$(patchelf --print-interpreter "$bin" 2>/dev/null)
	case "$interp" in "$tree"/*) [ -e "$interp" ] || { echo "$bin: no $interp"; return 1; } ;;
	*) echo "$bin: interpreter $interp"; return 1 ;; esac
	[ -d "$tree/usr/lib/python${bin##*/python}" ] || { echo "$bin: no standard library"; return 1; }
}

summary() {
	local name=$1 bin=$2 tree=$3 kind dwarf=no version rel
	kind=$(readelf -h "$bin" 2>/dev/null | awk '/Type:/{print ($2 == "DYN") ? "pie" : "static"}')
	if [ -n "$FOREIGN" ]; then
		version="$(basename "$bin") ($ARCH)"
	else
		version=$(env -i "$bin" -c 'import sys; print(sys.version.split()[0] + ("t" if "free-threading" in sys.version else ""))')
	fi
	rel=$(debug_rel "$bin")
	[ -n "$rel" ] && [ -s "$tree/$rel" ] && dwarf=yes
	echo "fetch-pythons: $name $bin $version $kind dwarf: $dwarf"
}

# What the tests need besides the interpreter: its DWARF (the layout checks)
# and its C headers (the --native extension). Missing either is a failure
# of this interpreter, said here, not a test skipped later.
extras() {
	local name=$1 suite=$2 tree=$3 ver=$4 bin=$5 ok=0
	keep_dwarf "$suite" "$tree" "$ver" "$bin" ||
		{ fail "$name: no DWARF (python$ver-dbg) in $suite for build-id $(build_id "$bin")"; ok=1; }
	keep_headers "$suite" "$tree" "$ver" ||
		{ fail "$name: no C headers (libpython$ver-dev) in $suite"; ok=1; }
	return $ok
}

# fetch_deb NAME SUITE VERSION: a Debian release's interpreter.
fetch_deb() {
	local name=$1 suite=$2 ver=$3
	local tree="$DIR/$1" bin="$DIR/$1/usr/bin/python$3" why
	if check "$bin" "$tree" >/dev/null; then
		localize_symlinks "$tree"
		extras "$name" "$suite" "$tree" "$ver" "$bin" || return 1
		summary "$name" "$bin" "$tree"
		return 0
	fi
	log "$name: fetching python$ver from $suite"
	rm -rf "$tree"
	mkdir -p "$tree"
	prepare_state "$suite" "$(deb_line "$suite")" refresh ||
		{ rm -rf "$tree"; fail "$name: no package lists for $suite"; return 1; }
	unpack_closure "$suite" "$tree" "python$ver-minimal" "libpython$ver-stdlib" ||
		{ rm -rf "$tree"; fail "$name: cannot get python$ver-minimal libpython$ver-stdlib from $suite"; return 1; }
	[ -x "$bin" ] || { rm -rf "$tree"; fail "$name: the packages have no $bin"; return 1; }
	localize_symlinks "$tree"
	patch_binary "$tree" "$bin" || { rm -rf "$tree"; fail "$name: patchelf failed"; return 1; }
	if ! why=$(check "$bin" "$tree"); then
		rm -rf "$tree"
		fail "$name: $bin does not work: $why"
		return 1
	fi
	extras "$name" "$suite" "$tree" "$ver" "$bin" || return 1
	summary "$name" "$bin" "$tree"
}

# Upstream sources (Debian's orig tarballs) for when the suite's current source
# package cannot be downloaded: a mirror may drop the files of a version the
# index still names. Debian's patches are not needed for a --disable-gil test
# interpreter. Path under the mirror's pool, and sha256.
declare -A PINNED_ORIG=(
	[python3.14]="main/p/python3.14/python3.14_3.14.7.orig.tar.xz 3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81"
	[python3.15]="main/p/python3.15/python3.15_3.15.0~rc1.orig.tar.xz f84dad680ab2147417d2739355c2678f0f9acffe4ae8ef77895de1454b384b07"
)

# unpack_kept_source SRC SRCPKG BUILD: unpack into BUILD/src what an earlier
# run downloaded into SRC (a Debian source package, or a pinned orig tarball).
unpack_kept_source() {
	local src=$1 srcpkg=$2 build=$3 dsc orig
	dsc=$(ls "$src/${srcpkg}"_*.dsc 2>/dev/null | tail -n1)
	if [ -n "$dsc" ]; then
		(cd "$build" && dpkg-source -x "$dsc" src >"$build/unpack.log" 2>&1)
		return
	fi
	orig=$(ls "$src/${srcpkg}"_*.orig.tar.xz 2>/dev/null | tail -n1)
	[ -n "$orig" ] && [ -f "$src/sha256.ok" ] || return 1
	mkdir -p "$build/src" && tar -xJf "$orig" -C "$build/src" --strip-components=1 2>"$build/unpack.log"
}

# fetch_pinned_orig NAME SRCPKG SRC: download SRCPKG's pinned orig tarball
# into SRC and check its sha256 (unpack_kept_source unpacks it).
fetch_pinned_orig() {
	local name=$1 srcpkg=$2 src=$3 path sum file
	[ -n "${PINNED_ORIG[$srcpkg]:-}" ] ||
		{ fail "$name: apt-get source $srcpkg failed (see $src/download.log) and no orig tarball is pinned"; return 1; }
	read -r path sum <<<"${PINNED_ORIG[$srcpkg]}"
	file="$src/${path##*/}"
	log "$name: apt-get source $srcpkg failed (see $src/download.log); using the pinned ${path##*/}"
	retry curl -fsSL -o "$file" "$MIRROR/pool/$path" ||
		{ fail "$name: cannot download $MIRROR/pool/$path"; return 1; }
	echo "$sum  $file" | sha256sum -c --status ||
		{ rm -f "$file"; fail "$name: ${path##*/} does not have the pinned sha256 $sum"; return 1; }
	touch "$src/sha256.ok"
	log "$name: source: ${path##*/} (upstream, sha256 checked)"
}

fetch_ft() {
	local name=$1 suite=$2 srcpkg=$3
	local tree="$DIR/$name" ver=${3#python} st="$suite-src"
	local bin="$tree/usr/bin/python${ver}t" why src build rel t0
	if check "$bin" "$tree" 1 >/dev/null; then
		summary "$name" "$bin" "$tree"
		return 0
	fi
	t0=$(date +%s)
	ensure_host_packages "${HOST_BUILD_DEPS[@]}" || log "$name: some build dependencies are missing; modules may be missing"
	prepare_state "$st" "$(src_line "$suite")" refresh || return 1
	# One source and build directory per package: sid builds two of them.
	src="$STATE/$st/$srcpkg/source"
	build="$STATE/$st/$srcpkg/build"
	mkdir -p "$src"
	rm -rf "$build" && mkdir -p "$build"
	# The source files are kept in $src: a rebuild does not download them again.
	if ! unpack_kept_source "$src" "$srcpkg" "$build"; then
		rm -rf "$build" "$src" && mkdir -p "$build" "$src"
		log "$name: apt-get source $srcpkg ($suite)"
		(cd "$src" && retry apt_state "$st" apt-get source --download-only "$srcpkg" >"$src/download.log" 2>&1) ||
			fetch_pinned_orig "$name" "$srcpkg" "$src" || return 1
		unpack_kept_source "$src" "$srcpkg" "$build" ||
			{ fail "$name: cannot unpack the source in $src (see $build/unpack.log)"; return 1; }
	fi
	rm -rf "$tree"
	log "$name: building (configure --disable-gil; make -j$JOBS; make install), log in $build/build.log"
	mkdir -p "$build/obj"
	if ! (cd "$build/obj" &&
		../src/configure --prefix="$tree/usr" --disable-gil --with-ensurepip=no \
			--disable-test-modules --without-static-libpython &&
		make -j"$JOBS" &&
		make install) >"$build/build.log" 2>&1; then
		cp -f "$build/build.log" "$STATE/$st/$srcpkg/build.log"
		rm -rf "$tree"
		fail "$name: build failed (see $STATE/$st/$srcpkg/build.log: $(tail -n 2 "$build/build.log" | tr '\n' ' '))"
		return 1
	fi
	cp -f "$build/build.log" "$STATE/$st/$srcpkg/build.log"
	# `make install` also links python3.X and python3 to python3.Xt: drop them so
	# the tree holds only the free-threaded name (and no second "python3.X").
	rm -f "$tree/usr/bin/python$ver" "$tree/usr/bin/python3"
	if ! why=$(check "$bin" "$tree" 1); then
		rm -rf "$tree"
		fail "$name: $bin is not a working free-threaded interpreter: $why (see $STATE/$st/$srcpkg/build.log)"
		return 1
	fi
	rel=$(debug_rel "$bin")
	if [ -n "$rel" ]; then
		mkdir -p "$(dirname "$tree/$rel")"
		if objcopy --only-keep-debug "$bin" "$tree/$rel"; then
			chmod 0644 "$tree/$rel"
		else
			log "$name: objcopy --only-keep-debug failed"
		fi
	fi
	rm -rf "$build"
	log "$name: built in $(($(date +%s) - t0)) s"
	summary "$name" "$bin" "$tree"
}

run() {
	"$@" || FAILED+=("$2")
}

ensure_host_packages "${HOST_TOOLS[@]}" || { log "cannot install host tools: ${HOST_TOOLS[*]}"; exit 2; }

if [ -n "$FOREIGN" ]; then
	run fetch_deb bullseye-3.9 bullseye 3.9
	run fetch_deb bookworm-3.11 bookworm 3.11
	run fetch_deb trixie-3.13 trixie 3.13
	rm -rf "$STATE"/*/archives/*.deb "$STATE"/*/cache/*.bin
	[ ${#FAILED[@]} -eq 0 ] || { log "FAILED: ${FAILED[*]}"; exit 1; }
	exit 0
fi
run fetch_deb bullseye-3.9 bullseye 3.9
run fetch_deb trixie-3.13 trixie 3.13

# sid: whatever python3.X (>= 3.13) it carries now, 3.14 and 3.15 in any case,
# and the sid trees already here (they are kept while they work, even offline).
sid_required="3.14 3.15"
sid_existing=$(cd "$DIR" && for t in sid-3.*; do [[ -d $t && $t =~ ^sid-3\.[0-9]+$ ]] && echo "${t#sid-}"; done)
sid_listed=""
if prepare_state sid "$(deb_line sid)"; then
	sid_listed=$(apt_state sid apt-cache pkgnames python3. 2>/dev/null |
		sed -n 's/^python\(3\.[0-9][0-9]*\)-minimal$/\1/p' | awk -F. '$2 >= 13')
	log "sid carries python $(echo "$sid_listed" | sort -t. -k2,2n | tr '\n' ' ')"
	for v in $sid_required; do
		echo "$sid_listed" | grep -qx "$v" || log "sid has no python$v-minimal now"
	done
else
	log "cannot read sid's package lists: trying $sid_required and the sid trees already in $DIR"
fi
# shellcheck disable=SC2086
for v in $(printf '%s\n' $sid_required $sid_existing $sid_listed | sort -t. -k2,2n -u); do
	run fetch_deb "sid-$v" sid "$v"
done

run fetch_ft trixie-3.13t trixie python3.13
run fetch_ft sid-3.14t sid python3.14
run fetch_ft sid-3.15t sid python3.15

# The .debs are not needed once unpacked.
rm -rf "$STATE"/*/archives/*.deb "$STATE"/*/cache/*.bin

if [ ${#FAILED[@]} -gt 0 ]; then
	log "FAILED: ${FAILED[*]}"
	exit 1
fi
exit 0
