#!/usr/bin/env bash
# Fetch playwright-core (no browsers: the tests drive Debian's chromium)
# into a cache directory for the browser tests (tests/test_visual.py).
#
# usage: scripts/fetch-browser-tools.sh [DIR]   (idempotent; default DIR:
#        $REFBPF_NODE_DIR or /var/cache/refbpf/node)
# Prints the package's directory on stdout; exits non-zero, saying why on
# stderr, when it cannot be obtained (npm missing, registry unreachable).
set -euo pipefail

PLAYWRIGHT_VERSION=1.61.1
DIR=${1:-${REFBPF_NODE_DIR:-/var/cache/refbpf/node}}
dest=$DIR/playwright-$PLAYWRIGHT_VERSION
pkg=$dest/node_modules/playwright-core

if [ -f "$pkg/package.json" ]; then
	echo "$pkg"
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "fetch-browser-tools: npm is not installed (make deps installs it)" >&2
	exit 1
fi
mkdir -p "$DIR"
tmp=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# playwright-core downloads no browser; npm checks the registry's hashes
if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund \
	--cache "$DIR/.npm" --prefix "$tmp" "playwright-core@$PLAYWRIGHT_VERSION" >&2; then
	echo "fetch-browser-tools: npm install playwright-core@$PLAYWRIGHT_VERSION failed" >&2
	exit 1
fi
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$pkg"
