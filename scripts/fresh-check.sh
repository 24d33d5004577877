#!/usr/bin/env bash
# Prove README's quick start on a really fresh Debian 12: build a clean root
# with debootstrap (minbase: no pyenv, no node, no compiler, no make), copy
# this checkout's committed tree into it, and run README's two commands
# there as root, timed:
#     sudo make demo
#     sudo make deps test
# The root is a chroot with /proc, /sys (so /sys/fs/bpf and the kernel's
# BTF), /dev and /dev/pts from the host, inside a private mount namespace:
# BPF works there, and the mounts vanish with it. The root's own
# /var/cache/refbpf starts empty, so every fetch happens as on a new machine.
#
# usage: scripts/fresh-check.sh [--reuse] [ROOT]   (as root)
#   ROOT     default /var/tmp/refbpf-fresh (about 3 GB once the tests ran)
#   --reuse  keep ROOT's packages and caches from an earlier run (faster,
#            not fresh); without it ROOT is built again from nothing
# env: REFBPF_DEBIAN_MIRROR (default http://deb.debian.org/debian)
#      REFBPF_FRESH_ENV      extra VAR=value words for the commands (sudo keeps few)
# Prints each step's time and the test counts; the full log is ROOT.log.
# Exits non-zero when a command fails.
set -uo pipefail

reuse=
[ "${1:-}" = --reuse ] && { reuse=1; shift; }
ROOT=${1:-/var/tmp/refbpf-fresh}
MIRROR=${REFBPF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
SRC=$(cd "$(dirname "$0")/.." && pwd)
LOG=$ROOT.log

say() { echo "fresh-check: $*" | tee -a "$LOG" >&2; }
die() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || { echo "fresh-check: must run as root (debootstrap, chroot, BPF)" >&2; exit 2; }
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

# The processes still running inside the root (a test's leftover): killed
# before the mounts go, so nothing outlives the check.
inside_root() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$r" = "$ROOT" ] && echo "${p#/proc/}"
	done
}

: >"$LOG"
t0=$(date +%s)
if [ -z "$reuse" ] || [ ! -f "$ROOT/.bootstrapped" ]; then
	rm -rf "$ROOT"
	say "debootstrap --variant=minbase $SUITE $ROOT $MIRROR"
	debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >>"$LOG" 2>&1 ||
		die "debootstrap failed (see $LOG)"
	# as a Debian 12 installation has it: security and point-release updates
	cat >"$ROOT/etc/apt/sources.list" <<-EOF
		deb $MIRROR $SUITE main
		deb $MIRROR $SUITE-updates main
		deb http://deb.debian.org/debian-security $SUITE-security main
	EOF
	touch "$ROOT/.bootstrapped"
	say "root built in $(($(date +%s) - t0)) s: $(du -sh "$ROOT" | cut -f1)"
fi
for absent in /root/.pyenv /usr/bin/node /usr/bin/python3 /usr/bin/make; do
	[ -z "$reuse" ] && [ -e "$ROOT$absent" ] && die "$absent exists in a fresh root"
done

# This checkout's committed tree, cloned as a user clones it (with its
# .git: the tree checks ask git what is tracked).
rm -rf "$ROOT/root/refbpf"
git clone -q --no-local "$SRC" "$ROOT/root/refbpf" || die "cannot clone $SRC"
say "source: $(git -C "$SRC" rev-parse --short HEAD) ($(git -C "$SRC" log -1 --format=%s HEAD))"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The host's way out, no more: a proxy's extra CA certificates (npm needs
# them where TLS is intercepted) go to the root, named in npm's global
# configuration (sudo would drop NODE_EXTRA_CA_CERTS).
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
	mkdir -p "$ROOT/usr/local/share/fresh-check"
	cp "$NODE_EXTRA_CA_CERTS" "$ROOT/usr/local/share/fresh-check/extra-ca.crt"
	echo "cafile=/usr/local/share/fresh-check/extra-ca.crt" >"$ROOT/etc/npmrc"
	say "the host's extra CA certificates go to npm (the root's /etc/npmrc)"
fi

# Run in a private mount namespace: the bind mounts end with it.
export ROOT LOG REFBPF_FRESH_ENV=${REFBPF_FRESH_ENV:-}
# shellcheck disable=SC2016
unshare --mount --propagation private bash -c '
	set -uo pipefail
	# the root a mount point, as a real one is (unshare --mount in the
	# tests makes it private, which needs a mount)
	mount --bind "$ROOT" "$ROOT" &&
	mount -t proc proc "$ROOT/proc" &&
	mount --rbind /sys "$ROOT/sys" &&
	mount --rbind /dev "$ROOT/dev" &&
	mount -t tmpfs tmpfs "$ROOT/tmp" &&
	mount -t tmpfs tmpfs "$ROOT/run" || exit 3
	mkdir -p "$ROOT/run/lock"
	step() {
		local name=$1 start status
		shift
		start=$(date +%s)
		echo "fresh-check: \$ $name" | tee -a "$LOG" >&2
		chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			${REFBPF_FRESH_ENV:-} bash -c "cd /root/refbpf && $*" >>"$LOG" 2>&1
		status=$?
		echo "fresh-check: $name: exit $status in $(($(date +%s) - start)) s" | tee -a "$LOG" >&2
		return $status
	}
	# minbase has neither make nor sudo; README says to install them first
	step "apt-get install make sudo" "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make sudo" || exit 4
	step "sudo make demo" "sudo make demo" || exit 5
	step "sudo make deps test" "sudo make deps test" || exit 6
'
status=$?
leftover=$(inside_root)
if [ -n "$leftover" ]; then
	say "killing processes left inside the root: $(echo $leftover)"
	# shellcheck disable=SC2086
	kill -9 $leftover 2>/dev/null
fi
summary=$(grep -E '^=+ .*(passed|failed).* in [0-9.]+s' "$LOG" | tail -n1)
[ -n "$summary" ] && say "tests: $summary"
grep -E '^interpreters:' "$LOG" | tail -n1 | sed 's/^/fresh-check: /' >&2
say "total $(($(date +%s) - t0)) s, exit $status (log: $LOG)"
exit $status
