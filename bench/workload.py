"""A CPU-bound pure-Python workload for the benchmarks.

Recurses to DEPTH frames, then calls small functions in a loop for SECONDS
and prints `ITERATIONS <n>` on exit (or on SIGINT/SIGTERM).

usage: workload.py SECONDS [DEPTH]
"""
import signal
import sys
import time

count = 0


def add(a, b):
    return a + b


def work_unit(n):
    total = 0
    for i in range(n):
        total = add(total, i * i % 7)
    return total


def spin(deadline):
    global count
    while time.monotonic() < deadline:
        work_unit(200)
        count += 1


def descend(depth, deadline):
    if depth <= 0:
        return spin(deadline)
    return descend(depth - 1, deadline)


def finish(*_):
    print("ITERATIONS %d" % count, flush=True)
    sys.exit(0)


def main():
    seconds = float(sys.argv[1])
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    sys.setrecursionlimit(depth + 200)
    signal.signal(signal.SIGTERM, finish)
    print("READY", flush=True)
    descend(depth, time.monotonic() + seconds)
    finish()


if __name__ == "__main__":
    main()
