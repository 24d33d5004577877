#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, start the
# bundled demo server under load, profile it for a few seconds, print the
# report. Run as root (BPF): sudo ./scripts/demo.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-5}
port=${REFBPF_DEMO_PORT:-8765}
python=${PYTHON:-/usr/bin/python3}

./scripts/install-deps.sh
make -s

"$python" demo/server.py "$port" > /tmp/refbpf-demo-server.log 2>&1 &
server=$!
load=
cleanup() {
	[ -n "$load" ] && kill "$load" 2>/dev/null || true
	kill "$server" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 50); do
	grep -q READY /tmp/refbpf-demo-server.log && break
	sleep 0.1
done

"$python" demo/load.py "$port" $((seconds + 2)) 4 &
load=$!
echo "demo: profiling the demo server (PID $server) for $seconds s under load" >&2
./refbpf --pid "$server" -d "$seconds" -n 25 -o demo-profile.out --folded demo-profile.folded
echo "demo: wrote demo-profile.out (python3 -m pstats demo-profile.out) and demo-profile.folded" >&2
