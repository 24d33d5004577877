"""Runs a named function for SECONDS of its CPU time, then exits by itself.

usage: exits.py SECONDS
"""
import sys
import time


def work_until_exit(deadline):
    x = 0
    while time.thread_time() < deadline:
        x += 1


if __name__ == "__main__":
    print("READY", flush=True)
    work_until_exit(time.thread_time() + float(sys.argv[1]))
