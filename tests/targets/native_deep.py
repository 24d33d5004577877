"""--native target: Python recursion deeper than the 32 KiB stack copy and
the 1024-frame limit. Usage: native_deep.py SECONDS DEPTH"""
import sys
import time

sys.setrecursionlimit(100000)


def recurse(n, deadline):
    if n == 0:
        while time.monotonic() < deadline:  # @spin
            pass
        return
    recurse(n - 1, deadline)


print("READY", flush=True)
recurse(int(sys.argv[2]), time.monotonic() + float(sys.argv[1]))
