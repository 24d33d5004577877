#!/usr/bin/env bash
# Fetch the npm packages the tests use into a cache directory:
#   DIR/speedscope-VERSION/package/   speedscope's npm package, which ships
#       the JSON schema of its file format at
#       dist/release/file-format-schema.json (tests/test_formats.py
#       validates --speedscope output against it).
# npm verifies the tarball against the registry's integrity hash; its own
# cache goes to DIR/.npm, so nothing is written under $HOME.
#
# usage: scripts/fetch-node-tools.sh [DIR]   (idempotent; default DIR:
#        $REFBPF_NODE_DIR or /var/cache/refbpf/node)
# Prints the schema's path on stdout; exits non-zero, saying why on
# stderr, when it cannot be obtained (npm missing, registry unreachable).
set -euo pipefail

SPEEDSCOPE_VERSION=1.25.0
DIR=${1:-${REFBPF_NODE_DIR:-/var/cache/refbpf/node}}
dest=$DIR/speedscope-$SPEEDSCOPE_VERSION
schema=dist/release/file-format-schema.json

if [ -f "$dest/package/$schema" ]; then
	echo "$dest/package/$schema"
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "fetch-node-tools: npm is not installed (make deps installs it)" >&2
	exit 1
fi
mkdir -p "$DIR"
tmp=$(mktemp -d "$DIR/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack --silent --cache "$DIR/.npm" "speedscope@$SPEEDSCOPE_VERSION" >/dev/null &&
	tar xzf "speedscope-$SPEEDSCOPE_VERSION.tgz"); then
	echo "fetch-node-tools: npm pack speedscope@$SPEEDSCOPE_VERSION failed" >&2
	exit 1
fi
if [ ! -f "$tmp/package/$schema" ]; then
	echo "fetch-node-tools: speedscope@$SPEEDSCOPE_VERSION has no $schema" >&2
	exit 1
fi
# a complete tree or none: the rename is the last step
mkdir "$tmp/out"
mv "$tmp/package" "$tmp/out/package"
rm -rf "$dest"
mv "$tmp/out" "$dest"
echo "$dest/package/$schema"
