"""A stack of COUNT distinct functions, each calling the next, created one
after another as a module's functions are (their code objects lie side by
side in the allocator's pools); the innermost spins for SECONDS.

usage: distinct_levels.py COUNT SECONDS
"""
import sys
import time

SOURCE = """
def level_{i:04d}(depth, seconds):
    if depth:
        return LEVELS[{i} + 1](depth - 1, seconds)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
"""

LEVELS = []


def main():
    count, seconds = int(sys.argv[1]), float(sys.argv[2])
    sys.setrecursionlimit(count + 100)
    namespace = {"time": time, "LEVELS": LEVELS}
    for i in range(count):
        exec(compile(SOURCE.format(i=i), "<levels>", "exec"), namespace)
        LEVELS.append(namespace["level_%04d" % i])
    print("READY", flush=True)
    LEVELS[0](count - 1, seconds)


if __name__ == "__main__":
    main()
