"""Runs a named function for SECONDS, then exits by itself. With
REFBPF_TEST_GO set (wait_go.py), the SECONDS start when the test says go.

usage: exits.py SECONDS
"""
import sys
import time

from wait_go import wait_for_go


def work_until_exit(deadline):
    x = 0
    while time.monotonic() < deadline:
        x += 1


if __name__ == "__main__":
    print("READY", flush=True)
    wait_for_go()
    work_until_exit(time.monotonic() + float(sys.argv[1]))
