"""Children started by multiprocessing, on the CPU (Austin's target_mp.py,
py-spy's subprocesses.py), while the parent waits: each is a process of
its own, found by following the parent (-C). With "zombie", one child that
ends at once and is never joined while the parent sleeps (py-spy's
subprocesses_zombie_child.py).

usage: subprocesses.py SECONDS [zombie]
"""
import multiprocessing
import sys
import time

from wait_go import wait_for_go


def fact(n):
    f = 1
    for i in range(1, n + 1):
        f *= i  # @fact
    return f


def do(seconds):
    end = time.monotonic() + seconds
    n = 1
    while time.monotonic() < end:
        fact(n % 300)  # @do
        n += 1


def nothing():
    pass


if __name__ == "__main__":
    seconds = float(sys.argv[1])
    if sys.argv[2:] == ["zombie"]:
        # forked, as py-spy's ran: a forkserver (3.14's default) would reap it
        child = multiprocessing.get_context("fork").Process(target=nothing)
        child.start()
        print("READY", flush=True)
        time.sleep(seconds)  # @sleep
        child.join()
        sys.exit(0)
    print("READY", flush=True)
    wait_for_go()
    children = [multiprocessing.Process(target=do, args=(seconds,)) for _ in range(2)]
    for c in children:
        c.start()
    for c in children:
        c.join()  # @join
