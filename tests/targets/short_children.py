"""A parent that starts short-lived Python children one after another, each
printing when its own code starts, then spinning for SHORT seconds of its
CPU time (as many samples however busy the machine); other
processes keep both CPUs busy meanwhile, as on a loaded server.

usage: short_children.py NCHILDREN SHORT NLOAD
"""
import subprocess
import sys
import time

from wait_go import wait_for_go

CHILD = """
import time
STARTED = time.monotonic()
import os, sys
print("CHILD %d %.6f" % (os.getpid(), STARTED), flush=True)
def short_child_work(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
short_child_work(float(sys.argv[1]))
"""

LOAD = "import time\nt = time.monotonic() + float(__import__('sys').argv[1])\nwhile time.monotonic() < t: pass\n"


def main():
    n, short, nload = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    load = [subprocess.Popen([sys.executable, "-c", LOAD, str(n * (short + 0.3) + 1)])
            for _ in range(nload)]
    print("READY", flush=True)
    wait_for_go()
    time.sleep(0.2)
    for _ in range(n):
        subprocess.run([sys.executable, "-c", CHILD, str(short)], check=True)
        time.sleep(0.1)
    for p in load:
        p.kill()
        p.wait()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
