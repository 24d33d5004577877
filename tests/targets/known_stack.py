"""A target with a known stack: named functions, a method, recursion of a
known depth, and a hot loop on known lines. Lines the tests check carry an
`# @name` marker; the tests find them by reading this file.

usage: known_stack.py SECONDS [DEPTH]
"""
import sys
import time


def leaf(deadline):
    x = 0
    while time.thread_time() < deadline:  # @leaf_loop
        x += 1  # @leaf_body
    return x


def recurse(n, deadline):
    if n == 0:
        return leaf(deadline)  # @call_leaf
    return recurse(n - 1, deadline)  # @recurse


class Worker:
    def run(self, depth, deadline):
        return recurse(depth, deadline)  # @run


def main():
    seconds = float(sys.argv[1])
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    sys.setrecursionlimit(max(1000, depth + 100))
    print("READY", flush=True)
    # SECONDS of its own CPU time: as many samples on a busy machine
    Worker().run(depth, time.thread_time() + seconds)  # @main


if __name__ == "__main__":
    main()  # @module
