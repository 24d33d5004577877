"""Runs a named function for SECONDS of its CPU time, then exits by itself.
With REFBPF_TEST_GO set (wait_go.py), the SECONDS start when the test says go.

usage: exits.py SECONDS
"""
import sys
import time

from wait_go import wait_for_go

# 3.6 (the refusal tests run this on it too) has no thread_time
clock = getattr(time, "thread_time", time.process_time)


def work_until_exit(deadline):
    x = 0
    while clock() < deadline:
        x += 1


if __name__ == "__main__":
    print("READY", flush=True)
    wait_for_go()
    work_until_exit(clock() + float(sys.argv[1]))
