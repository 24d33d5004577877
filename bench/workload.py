"""A CPU-bound pure-Python workload for the benchmarks.

Recurses to DEPTH frames, then calls small functions in a loop for SECONDS.

usage: workload.py SECONDS [DEPTH] [--go [--warmup=S]]

Default mode: prints READY, runs at once, prints `ITERATIONS <n>` on exit
(or on SIGTERM).

--go mode (what bench/run.py uses): DEPTH is the total number of Python
frames on the stack at the leaf (add(), <module> included; at least 8),
each level a distinct function.
Prints READY, then waits, idle, for a line on stdin; then descends, spins
for SECONDS and prints
  RESULT iterations=<n> seconds=<wall> cpu=<process CPU seconds> depth=<frames>
timed at the bottom of the stack, so the window holds only the spin; then
waits, idle, for stdin to close before exiting. Being idle before and after
the window lets a profiler attach and detach outside of it. --warmup=S
first spins S seconds on the same stack and prints
  WARM cpu=<process CPU seconds>
so a profiler has seen every function of the window before it starts.
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


def spin(seconds):
    global count
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        work_unit(200)
        count += 1


WARMUP = 0.0


def timed_spin(seconds):
    global count
    frames, f = 0, sys._getframe()
    while f is not None:
        frames, f = frames + 1, f.f_back
    if WARMUP > 0:
        w0 = time.process_time()
        spin(WARMUP)
        count = 0
        print("WARM cpu=%.6f" % (time.process_time() - w0), flush=True)
    c0, t0 = time.process_time(), time.monotonic()
    spin(seconds)
    t1, c1 = time.monotonic(), time.process_time()
    print("RESULT iterations=%d seconds=%.6f cpu=%.6f depth=%d"
          % (count, t1 - t0, c1 - c0, frames + 3), flush=True)


# Each stack level is its own function (its own code object and name), as
# in a real server's stack: a profiler gains nothing from recursion here.
LEVEL_SOURCE = """
def level_{i}(depth, body, seconds):
    if depth <= 0:
        return body(seconds)
    return LEVELS[{i} + 1](depth - 1, body, seconds)
"""
LEVELS = []


def make_levels(n):
    for i in range(len(LEVELS), n + 1):
        exec(compile(LEVEL_SOURCE.format(i=i), "<workload-level-%d>" % i, "exec"), globals())
        LEVELS.append(globals()["level_%d" % i])


def descend(depth, body, seconds):
    make_levels(depth)
    return LEVELS[0](depth, body, seconds)


def finish(*_):
    print("ITERATIONS %d" % count, flush=True)
    sys.exit(0)


def main():
    global WARMUP
    argv = [a for a in sys.argv[1:] if a != "--go" and not a.startswith("--warmup=")]
    go = "--go" in sys.argv[1:]
    for a in sys.argv[1:]:
        if a.startswith("--warmup="):
            WARMUP = float(a.split("=", 1)[1])
    seconds = float(argv[0])
    depth = int(argv[1]) if len(argv) > 1 else 20
    sys.setrecursionlimit(depth + 200)
    if go:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print("READY", flush=True)
        if not sys.stdin.readline():
            return
        # <module>, main, descend, level_0 .. level_n, timed_spin, spin, work_unit, add:
        # n + 8 frames
        descend(max(0, depth - 8), timed_spin, seconds)
        sys.stdin.read()
        return
    signal.signal(signal.SIGTERM, finish)
    print("READY", flush=True)
    descend(depth, spin, seconds)
    finish()


if __name__ == "__main__":
    main()
