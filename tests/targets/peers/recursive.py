"""Recursion 20 deep, over and over, on the CPU (py-spy's and Austin's
recursive.py): every sample's stack is the module's loop, then recurse
frames each at its recursive call, the innermost on any of its lines.

usage: recursive.py SECONDS
"""
import sys
import time


def recurse(x):  # @enter
    if x == 0:  # @test
        return  # @base
    recurse(x - 1)  # @recurse


deadline = time.monotonic() + float(sys.argv[1])
print("READY", flush=True)
while time.monotonic() < deadline:  # @loop
    recurse(20)  # @call
