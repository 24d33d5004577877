#!/usr/bin/env bash
# Build the initramfs the kernel matrix boots (tests/kernels/matrix.py):
# one uncompressed cpio archive holding
#   /init                       tests/kernels/init.sh
#   /bin/busybox                Debian's busybox-static (its applets at boot;
#                               for an arm64 refbpf, the arm64 one of
#                               scripts/arm64-sysroot.sh)
#   /bin/refbpf                 the binary under test (and the shared
#                               libraries it needs, if it is not static)
#   /t/tests/...                tests/profiling.py, tests/kernel_times.py, tests/targets/,
#                               tests/kernels/guest.py
#   /t/ext/NAME/native_ext.so   the --native test extension, built here
#                               against each interpreter's own headers (by
#                               the cross compiler for arm64)
#   /t/config.json              the interpreters and extensions, for guest.py
#   PYTHONS/NAME/...            each interpreter tree, at the same path as on
#                               the host (their binaries' RPATH and loader
#                               point there), without DWARF, headers and docs
#
# The architecture is REFBPF's: an arm64 build takes arm64 interpreters
# (REFBPF_PYTHON_ARCH=arm64 scripts/fetch-pythons.sh), which are not run
# here: their version comes from their headers.
#
# usage: scripts/kernel-initramfs.sh OUT.cpio REFBPF PYTHON_TREE...
#        (PYTHON_TREE: a directory of scripts/fetch-pythons.sh, e.g.
#        /var/cache/refbpf/pythons/bullseye-3.9)
# env:   REFBPF_ARM64_SYSROOT  (default /var/cache/refbpf/arm64/sysroot)
set -euo pipefail

[ $# -ge 3 ] || { sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
out=$(realpath -m "$1")
refbpf=$(realpath "$2")
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "kernel-initramfs: $*" >&2; }

if readelf -h "$refbpf" | grep -q 'Machine: *AArch64'; then
	busybox=${REFBPF_ARM64_SYSROOT:-/var/cache/refbpf/arm64/sysroot}/bin/busybox
	cc=aarch64-linux-gnu-gcc
	foreign=1
else
	busybox=$(command -v busybox || true)
	cc=gcc
	foreign=
fi
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	{ log "needs a static busybox (Debian: apt-get install busybox-static)"; exit 2; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/refbpf-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,run,root,etc,t/tests,t/ext}
cp "$busybox" "$stage/bin/busybox"
cp "$top/tests/kernels/init.sh" "$stage/init"
chmod 0755 "$stage/init"

# refbpf, and what it loads when it is dynamically linked
cp "$refbpf" "$stage/bin/refbpf"
if ! file -L "$refbpf" | grep -q 'statically linked'; then
	ldd "$refbpf" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}' | while read -r lib; do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
fi

cp "$top/tests/profiling.py" "$top/tests/kernel_times.py" "$top/tests/kernels/guest.py" "$stage/t/tests/"
cp -r "$top/tests/targets" "$stage/t/tests/targets"
find "$stage/t/tests" -name __pycache__ -prune -exec rm -rf {} +

pythons_json=""
for tree in "$@"; do
	tree=$(realpath "$tree")
	name=$(basename "$tree")
	bin=$(ls "$tree"/usr/bin/python3.* 2>/dev/null | grep -E '/python3\.[0-9]+t?$' | head -n 1)
	[ -x "$bin" ] || { log "$tree holds no usr/bin/python3.X"; exit 2; }
	minor=${bin##*/python}
	minor=${minor%t}
	if [ -n "$foreign" ]; then
		include="$tree/usr/include/python$minor"
		version=$(sed -n 's/^#define PY_VERSION *"\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*"/\1,\2,\3/p' \
			"$include/patchlevel.h" 2>/dev/null)
		[ -n "$version" ] || { log "$tree: no usr/include/python$minor/patchlevel.h to tell its version"; exit 2; }
	else
		version=$(env -i "$bin" -c 'import sys; print(*sys.version_info[:3], sep=",")')
		include=$(env -i "$bin" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
	fi
	mkdir -p "$stage$(dirname "$tree")"
	# the tree without what no check needs: DWARF, headers, docs, tests
	tar -C "$(dirname "$tree")" -cf - \
		--exclude="$name/usr/lib/debug" --exclude="$name/usr/include" \
		--exclude="$name/usr/share/doc" --exclude="$name/usr/share/man" \
		--exclude="$name/usr/share/locale" --exclude='*.orig' \
		--exclude='*/test' --exclude='*/tests' --exclude='*/idlelib' \
		--exclude='*/tkinter' --exclude='*/turtledemo' --exclude='*/ensurepip' \
		--exclude='*/lib2to3' --exclude='*/__pycache__' "$name" |
		tar -C "$stage$(dirname "$tree")" -xf -
	ext=""
	if [ -f "$include/Python.h" ]; then
		mkdir -p "$stage/t/ext/$name"
		$cc -shared -fPIC -O2 -g -fomit-frame-pointer -fno-optimize-sibling-calls \
			-I "$include" -I "$(dirname "$include")" -o "$stage/t/ext/$name/native_ext.so" \
			"$top/tests/targets/native_ext.c"
		ext="/t/ext/$name"
	else
		log "$name has no C headers: its --native check will say so"
	fi
	pythons_json+="${pythons_json:+,}{\"name\": \"$name\", \"path\": \"$bin\", \"version\": [$version], \"ext\": \"$ext\"}"
done
echo "{\"pythons\": [$pythons_json]}" >"$stage/t/config.json"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out.new"
mv -f "$out.new" "$out"
log "$out: $(du -h "$out" | cut -f1)"
