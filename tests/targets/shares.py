"""CPU work with known shares: each round spends 1, 2 and 3 units of CPU
time in share_one, share_two and share_three (1/6, 2/6, 3/6 of the time).

usage: shares.py SECONDS
"""
import sys
import time

UNIT = 0.004


def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def share_one():
    spin(UNIT)


def share_two():
    spin(2 * UNIT)


def share_three():
    spin(3 * UNIT)


def main():
    deadline = time.monotonic() + float(sys.argv[1])
    print("READY", flush=True)
    while time.monotonic() < deadline:
        share_one()
        share_two()
        share_three()


if __name__ == "__main__":
    main()
