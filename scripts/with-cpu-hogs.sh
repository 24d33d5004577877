#!/usr/bin/env bash
# Run a command while every CPU is kept busy by a CPU hog at normal
# priority, as on a machine that also builds or serves something: timing
# checks must hold there too.
#
# usage: scripts/with-cpu-hogs.sh [-n HOGS] COMMAND [ARGS...]
#        (HOGS: default $REFBPF_HOGS or the number of online CPUs)
# Exits with COMMAND's status; the hogs are gone when it returns.
set -uo pipefail

hogs=${REFBPF_HOGS:-$(nproc)}
if [ "${1:-}" = -n ]; then
	hogs=$2
	shift 2
fi
[ $# -gt 0 ] || { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }

pids=()
stop() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	pids=()
}
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq "$hogs"); do
	# a shell loop: no I/O, no sleep, nice 0 like the tests themselves
	bash -c 'while :; do :; done' &
	pids+=($!)
done
echo "with-cpu-hogs: $hogs hogs (PIDs ${pids[*]}) while: $*" >&2
"$@"
status=$?
stop
exit $status
