"""Spins in one known function; run inside a container's own root.

usage: container_busy.py SECONDS
"""
import sys
import time


def container_work(deadline):
    while time.monotonic() < deadline:  # @spin
        pass


print("READY", flush=True)
container_work(time.monotonic() + float(sys.argv[1]))
