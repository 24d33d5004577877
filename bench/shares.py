"""Known time shares, for the accuracy benchmark.

Four functions spin for short slices of thread CPU time; each slice goes
to one of them, picked at random with weights 40/30/20/10, and lasts a
random 0.2-2 ms (so no sampling rate can alias with a period). The script
measures the CPU time each function really took and prints it: that is
the truth each profiler's report is compared with.

usage: shares.py SECONDS
Prints READY, waits for a line on stdin, spins for SECONDS, prints
  SHARE <function> <seconds>     (one per function)
and waits for stdin to close (so a profiler can detach outside the window).
"""
import random
import sys
import time

WEIGHTS = {"alpha": 40, "beta": 30, "gamma": 20, "delta": 10}


def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def alpha(seconds):
    spin(seconds)


def beta(seconds):
    spin(seconds)


def gamma(seconds):
    spin(seconds)


def delta(seconds):
    spin(seconds)


def main():
    seconds = float(sys.argv[1])
    funcs = [globals()[name] for name in WEIGHTS]
    weights = list(WEIGHTS.values())
    spent = {name: 0.0 for name in WEIGHTS}
    rng = random.Random(1)
    print("READY", flush=True)
    if not sys.stdin.readline():
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        func = rng.choices(funcs, weights)[0]
        t0 = time.thread_time()
        func(rng.uniform(0.0002, 0.002))
        spent[func.__name__] += time.thread_time() - t0
    for name, s in spent.items():
        print("SHARE %s %.6f" % (name, s), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
