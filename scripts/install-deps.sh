#!/usr/bin/env bash
# Install what refbpf needs to build and test on Debian/Ubuntu.
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
	# build
	make gcc clang llvm pkg-config libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev
	# make man: rst2man; the test renders the page with man
	python3-docutils man-db groff-base
	# make fuzz: libFuzzer and the sanitizer runtimes for clang
	libclang-rt-dev
	# tests: pytest, pgrep, DWARF of Debian's python3 to cross-check layouts;
	# git: the tree checks read what the checkout tracks (tests/test_tree.py)
	python3 python3-pytest python3-pyflakes procps git
	# tests: refbpf top in a real terminal; the progress line under script(1)
	tmux bsdutils
	# tests: file capabilities instead of root; bpftool to check kill -9 cleanup
	libcap2-bin
	# tests of --speedscope (its JSON schema) and --pprof (go tool pprof)
	python3-jsonschema golang-go
	# browser tests of the SVG flame graph: headless Chromium (driven by
	# playwright-core, which scripts/fetch-browser-tools.sh gets from npm)
	chromium
	# real-world tests: Flask's reloader, gunicorn, Apache httpd with mod_wsgi
	python3-flask gunicorn apache2 libapache2-mod-wsgi-py3
	# bench/: the HTTP load, and what builds Austin (scripts/fetch-austin.sh)
	# and runs valgrind on refbpf (tests)
	wrk autoconf automake curl valgrind strace
	# make test-kernels: Debian's kernels booted under qemu with an
	# initramfs (busybox, cpio); the kernels' BTF read out of vmlinuz
	qemu-system-x86 busybox-static cpio zstd xz-utils lz4 binutils file
	# make test-arm64: arm64 guests; patchelf points Debian's arm64
	# interpreters at their own tree's ld.so (scripts/fetch-pythons.sh)
	qemu-system-arm patchelf
)
# make ARCH=arm64 on x86-64: the cross compiler; make test-arm64 runs the
# arm64 build's layout_dump under qemu-aarch64 (user mode)
[ "$(uname -m)" = x86_64 ] && packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
# npm fetches speedscope's package (scripts/fetch-node-tools.sh); a node
# install from elsewhere (NodeSource) brings its own npm.
command -v npm >/dev/null || packages+=(npm)
command -v node >/dev/null || packages+=(nodejs)

missing_of() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
	done
}

# python3.X-dbg carries the DWARF of Debian's own /usr/bin/python3.X;
# python3.X-dev its headers, for the C extension the --native tests build.
# X is the version python3 depends on (installed or not yet).
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
python3_version() {
	apt-cache depends python3 2>/dev/null | sed -n 's/^ *Depends: python\(3\.[0-9]*\)$/\1/p' | head -n1
}
ver=$(python3_version)
updated=""
if [ -z "$ver" ]; then
	$sudo apt-get update -qq && updated=1
	ver=$(python3_version)
fi
[ -n "$ver" ] || { echo "install-deps: FAILED: cannot tell which python3.X python3 is" >&2; exit 1; }
packages+=("python${ver}-dbg" "python${ver}-dev")

mapfile -t missing < <(missing_of "${packages[@]}")
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: everything is installed"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
[ -n "$updated" ] || $sudo apt-get update -qq
# Packages like apache2 start their service when installed: the tests start
# their own private instances, so nothing is started (policy-rc.d says no).
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod 755 "$policy"
	own_policy=1
fi
status=0
# All or nothing: a package that cannot be installed (a -dbg package this
# release lacks, an unreachable mirror) fails here, not as tests skipped later.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
	status=$?
[ -n "$own_policy" ] && $sudo rm -f "$policy"
[ $status -eq 0 ] || echo "install-deps: FAILED: apt-get install ${missing[*]} (exit $status)" >&2
exit $status
