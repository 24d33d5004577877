#!/usr/bin/env bash
# Build Austin 3.7.0 (the peer the benchmarks measure refbpf against) from
# Debian trixie's source package, into
#   DIR/austin-3.7.0/src/austin
# Only the upstream tarball is used (its SHA-256 comes from trixie's signed
# source index); the host's apt sources are not touched.
#
# usage: scripts/fetch-austin.sh [DIR]   (as root; idempotent; default DIR:
#        $REFBPF_PEERS_DIR or /var/cache/refbpf/peers)
# env:   REFBPF_DEBIAN_MIRROR  (default http://deb.debian.org/debian)
# Prints the path of the austin binary on stdout.
set -uo pipefail

usage() { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac

DIR=${1:-${REFBPF_PEERS_DIR:-/var/cache/refbpf/peers}}
MIRROR=${REFBPF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ARCH=amd64
VERSION=3.7.0
log() { echo "fetch-austin: $*" >&2; }
fail() { log "FAILED: $*"; return 1; }

[ "$(id -u)" = 0 ] || { log "must run as root (host build tools, private apt state)"; exit 2; }
mkdir -p "$DIR" && DIR=$(cd "$DIR" && pwd -P) || exit 2
STATE="$DIR/.apt"
TREE="$DIR/austin-$VERSION"
BIN="$TREE/src/austin"
mkdir -p "$STATE" || exit 2
exec 9>"$STATE/lock"
flock -w 600 9 || { log "another fetch-austin holds $STATE/lock"; exit 2; }

# shellcheck source=scripts/apt-private.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-private.sh"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$VERSION"; then
	echo "$BIN"
	exit 0
fi
ensure_host_packages build-essential autoconf automake curl ca-certificates ||
	{ log "cannot install the build tools"; exit 2; }
prepare_state trixie-src "$(src_line trixie)" || exit 1

# 'URL' NAME SIZE SHA256:HEX, for the upstream tarball only.
uri=$(apt_state trixie-src apt-get source --print-uris austin 2>/dev/null |
	grep -F "austin_$VERSION.orig.tar" | head -n1)
[ -n "$uri" ] || { fail "trixie has no austin $VERSION source"; exit 1; }
url=$(echo "$uri" | awk '{print $1}' | tr -d "'")
name=$(echo "$uri" | awk '{print $2}')
sha=$(echo "$uri" | awk '{print $4}' | sed 's/^SHA256://')
tarball="$STATE/$name"
if ! echo "$sha  $tarball" | sha256sum -c --status 2>/dev/null; then
	log "downloading $url"
	retry curl -fsSL -o "$tarball" "$url" || { fail "cannot download $url"; exit 1; }
	echo "$sha  $tarball" | sha256sum -c --status || { fail "$name: SHA-256 mismatch"; exit 1; }
fi

rm -rf "$TREE" && mkdir -p "$TREE" || exit 1
tar -xzf "$tarball" -C "$TREE" --strip-components=1 || { fail "cannot unpack $tarball"; exit 1; }
log "building austin $VERSION in $TREE (log: $TREE/build.log)"
if ! (cd "$TREE" && autoreconf -i && ./configure && make -j"$(nproc)") >"$TREE/build.log" 2>&1; then
	fail "build failed: $(tail -n 3 "$TREE/build.log" | tr '\n' ' ')"
	exit 1
fi
"$BIN" --version 2>/dev/null | grep -q "$VERSION" || { fail "$BIN does not report version $VERSION"; exit 1; }
echo "$BIN"
