#!/usr/bin/env bash
# Fetch the Debian interpreters the tests use into a cache directory, each
# in its own tree that runs on this host:
#   DIR/bullseye-3.9   DIR/trixie-3.13   DIR/sid-3.14   DIR/sid-3.15
# Packages come from Debian's archive through a private apt state (the
# host's apt configuration is not touched); trees from releases newer than
# the host's glibc get their binary patched (patchelf) to use the tree's own
# loader and libraries, so DIR/NAME/usr/bin/python3.X runs directly and
# /proc/PID/exe is the python binary. Detached DWARF from python3.X-dbg is
# kept under DIR/NAME/usr/lib/debug/.build-id when the release has it.
#
# usage: scripts/fetch-pythons.sh [DIR]    (root; idempotent)
set -uo pipefail

DIR=${1:-${REFBPF_PYTHONS_DIR:-/var/cache/refbpf/pythons}}
MIRROR=${REFBPF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ARCH=amd64
mkdir -p "$DIR" || exit 1
STATE="$DIR/.apt"

log() { echo "fetch-pythons: $*" >&2; }

retry() {
	local n
	for n in 1 2 3; do
		"$@" && return 0
		sleep $((n * 2))
	done
	return 1
}

ensure_host_tools() {
	local missing=()
	command -v patchelf >/dev/null || missing+=(patchelf)
	command -v dpkg-deb >/dev/null || missing+=(dpkg)
	[ ${#missing[@]} -eq 0 ] && return 0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# apt-get with a private state for one suite.
apt_suite() {
	local suite=$1
	shift
	local s="$STATE/$suite"
	apt-get -q -o Dir::Etc::SourceList="$s/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$s/lists" -o Dir::State::status="$s/status" \
		-o Dir::Cache="$s/cache" -o Dir::Cache::archives="$s/archives" \
		-o APT::Architecture=$ARCH -o APT::Get::List-Cleanup=0 \
		-o Debug::NoLocking=1 "$@"
}

prepare_suite() {
	local suite=$1 s="$STATE/$1"
	mkdir -p "$s/lists/partial" "$s/cache" "$s/archives/partial"
	: >"$s/status"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $suite main" >"$s/sources.list"
	if [ ! -f "$s/updated" ] || [ -n "$(find "$s/updated" -mmin +1440)" ]; then
		retry apt_suite "$suite" update >/dev/null 2>&1 || { log "$suite: apt-get update failed"; return 1; }
		touch "$s/updated"
	fi
}

# Resolve the closure of packages and unpack each .deb into the tree.
unpack_closure() {
	local suite=$1 tree=$2
	shift 2
	local pkgs
	pkgs=$(apt_suite "$suite" -s install --no-install-recommends "$@" 2>/dev/null |
		awk '/^Inst /{print $2}')
	[ -n "$pkgs" ] || { log "$suite: cannot resolve $*"; return 1; }
	(cd "$STATE/$suite/archives" && retry apt_suite "$suite" download $pkgs >/dev/null 2>&1) ||
		{ log "$suite: download failed"; return 1; }
	local p deb
	for p in $pkgs; do
		deb=$(ls "$STATE/$suite/archives/${p}"_*.deb 2>/dev/null | head -n1)
		[ -n "$deb" ] || { log "$suite: $p missing"; return 1; }
		dpkg-deb -x "$deb" "$tree" || return 1
	done
}

# Keep only the DWARF file named by the binary's build-id from a -dbg package.
keep_dwarf() {
	local suite=$1 tree=$2 ver=$3
	local bin="$tree/usr/bin/python$ver" id tmp deb
	id=$(readelf -n "$bin.orig" 2>/dev/null | awk '/Build ID/{print $3}')
	[ -n "$id" ] || id=$(readelf -n "$bin" | awk '/Build ID/{print $3}')
	local rel="usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
	[ -f "$tree/$rel" ] && return 0
	(cd "$STATE/$suite/archives" && retry apt_suite "$suite" download "python$ver-dbg" >/dev/null 2>&1) || return 1
	deb=$(ls "$STATE/$suite/archives/python${ver}-dbg"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || return 1
	tmp=$(mktemp -d)
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./$rel" 2>/dev/null
	if [ -f "$tmp/$rel" ]; then
		mkdir -p "$(dirname "$tree/$rel")"
		mv "$tmp/$rel" "$tree/$rel"
	fi
	rm -rf "$tmp"
	[ -f "$tree/$rel" ]
}

# Point the binary at the tree's own loader and libraries.
patch_binary() {
	local tree=$1 ver=$2
	local bin="$tree/usr/bin/python$ver"
	local ld
	ld=$(ls "$tree"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$tree"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 2>/dev/null | head -n1)
	[ -n "$ld" ] || { log "no loader in $tree"; return 1; }
	[ -f "$bin.orig" ] || cp -p "$bin" "$bin.orig"
	cp -p "$bin.orig" "$bin"
	patchelf --set-interpreter "$ld" \
		--force-rpath --set-rpath "$tree/usr/lib/x86_64-linux-gnu:$tree/lib/x86_64-linux-gnu" "$bin"
}

works() {
	local bin=$1
	[ -x "$bin" ] && "$bin" -c 'import json, threading, http.server, sys; assert sys.prefix.startswith(sys.argv[1])' "$(dirname "$(dirname "$(dirname "$bin")")")" >/dev/null 2>&1
}

# fetch NAME SUITE VERSION
fetch() {
	local name=$1 suite=$2 ver=$3
	local tree="$DIR/$name" bin="$DIR/$name/usr/bin/python$ver"
	if works "$bin"; then
		summary "$name" "$bin" "$ver"
		return 0
	fi
	rm -rf "$tree"
	mkdir -p "$tree"
	prepare_suite "$suite" || return 1
	unpack_closure "$suite" "$tree" "python$ver-minimal" "libpython$ver-stdlib" || return 1
	[ -x "$bin" ] || { log "$name: no $bin in the packages"; return 1; }
	# Releases newer than the host need their own glibc.
	if ! works "$bin"; then
		unpack_closure "$suite" "$tree" libc6 || return 1
		patch_binary "$tree" "$ver" || return 1
	fi
	works "$bin" || { log "$name: $bin does not run"; return 1; }
	keep_dwarf "$suite" "$tree" "$ver" || log "$name: no DWARF (python$ver-dbg) in $suite"
	summary "$name" "$bin" "$ver"
}

summary() {
	local name=$1 bin=$2 ver=$3 kind dwarf version
	kind=$(readelf -h "$bin" | awk '/Type:/{print ($2 == "DYN") ? "pie" : "static"}')
	version=$("$bin" -c 'import sys; print(sys.version.split()[0])')
	dwarf=no
	ls "$DIR/$name"/usr/lib/debug/.build-id/*/*.debug >/dev/null 2>&1 && dwarf=yes
	echo "fetch-pythons: $name $bin $version $kind dwarf: $dwarf"
}

ensure_host_tools || { log "cannot install patchelf"; exit 1; }
status=0
fetch bullseye-3.9 bullseye 3.9 || status=1
fetch trixie-3.13 trixie 3.13 || status=1
fetch sid-3.14 sid 3.14 || status=1
fetch sid-3.15 sid 3.15 || status=1
exit $status
