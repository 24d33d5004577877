"""A target that never sits still: MODE is one of
  forks     forks short-lived children (each exits at once) as fast as it can
  threads   starts and joins short-lived threads as fast as it can
  requests  a thread per request: each thread spins about 3 ms (request_work),
            and the main thread starts the next when it ends
  recurse   recurses 5000 deep and spins there
while its main thread keeps returning to churn_work, for SECONDS (from the
test's go, when it sets REFBPF_TEST_GO: see wait_go.py).

usage: churn.py MODE SECONDS [COUNT]   (COUNT: stop after that many, if sooner)
"""
import os
import sys
import threading
import time

from wait_go import wait_for_go


def churn_work(n):
    total = 0
    for i in range(n):
        total += i
    return total


def short_thread():
    churn_work(2000)


def request_work():
    end = time.thread_time() + 0.003
    while time.thread_time() < end:
        churn_work(200)


def deep(n, deadline):
    if n:
        return deep(n - 1, deadline)
    while time.monotonic() < deadline:
        churn_work(1000)


def main():
    mode, seconds = sys.argv[1], float(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else None
    print("READY", flush=True)
    wait_for_go()
    deadline = time.monotonic() + seconds
    made = 0
    if mode == "recurse":
        sys.setrecursionlimit(20000)
        deep(5000, deadline)
    while time.monotonic() < deadline and made != count:
        churn_work(2000)
        if mode == "forks":
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        elif mode in ("threads", "requests"):
            t = threading.Thread(target=short_thread if mode == "threads" else request_work)
            t.start()
            t.join()
        made += 1
    print("MADE %d" % made, flush=True)


if __name__ == "__main__":
    main()
