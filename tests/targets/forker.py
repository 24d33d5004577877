"""A process tree: a parent that forks a Python child, starts Python
children through fork+exec (one of them living only SHORT seconds), and
runs a shell that starts Python itself. Each works for SECONDS (SHORT) of
its own CPU time, so each is sampled as often on a busy machine (only later).

usage: forker.py SECONDS SHORT
"""
import os
import subprocess
import sys
import time

from wait_go import wait_for_go

CHILD = """
import sys, time
def %s(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
%s(float(sys.argv[1]))
"""


def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def forked_child_work(seconds):
    spin(seconds)


def parent_work(seconds):
    spin(seconds)


def main():
    seconds, short = float(sys.argv[1]), float(sys.argv[2])
    print("READY", flush=True)
    wait_for_go()
    time.sleep(0.1)
    pid = os.fork()
    if pid == 0:
        forked_child_work(seconds)
        os._exit(0)
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD % ("execd_child_work", "execd_child_work"),
                          str(seconds)]),
        subprocess.Popen([sys.executable, "-c", CHILD % ("short_child_work", "short_child_work"),
                          str(short)]),
        subprocess.Popen(["/bin/sh", "-c", '"$0" -c "$1" "$2"; true', sys.executable,
                          CHILD % ("grandchild_work", "grandchild_work"), str(seconds)]),
    ]
    parent_work(seconds)
    os.waitpid(pid, 0)
    for c in children:
        c.wait()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
