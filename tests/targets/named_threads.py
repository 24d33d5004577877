"""Threads with a Python name (threading.Thread(name=...)) and a different
OS name (comm), some renamed in Python after they start, some ending early.

usage: named_threads.py NTHREADS SECONDS
  Prints READY, waits for the test's go (REFBPF_TEST_GO), then starts
  NTHREADS threads:
    "py-short-I", OS name "os-short-I": sleep 0.3 s and end (never on a
        CPU long enough to be sampled there);
    "py-long-I",  OS name "os-long-I":  spin for SECONDS;
    one started as "py-before-rename", renamed to
        "py-after-rename-with-a-name-longer-than-fifteen" once running;
  and prints "THREAD NATIVE_ID PYTHON_NAME OS_NAME" for each, then "DONE"
  once the short ones have ended. The main thread keeps its names.
"""
import sys
import threading
import time

from wait_go import wait_for_go

lock = threading.Lock()


def name_os_thread(name):
    with open("/proc/self/task/%d/comm" % threading.get_native_id(), "w") as f:
        f.write(name)


def announce(os_name):
    me = threading.current_thread()
    with lock:
        print("THREAD %d %s %s" % (threading.get_native_id(), me.name, os_name), flush=True)


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def short(i):
    name_os_thread("os-short-%d" % i)
    announce("os-short-%d" % i)
    time.sleep(0.3)


def long(i, seconds):
    name_os_thread("os-long-%d" % i)
    announce("os-long-%d" % i)
    spin(seconds)


def renamed(seconds):
    me = threading.current_thread()
    name_os_thread("os-renamed")
    me.name = "py-after-rename-with-a-name-longer-than-fifteen"
    # 3.14+ set the OS name again on a rename: ours stays
    name_os_thread("os-renamed")
    announce("os-renamed")
    spin(seconds)


def main():
    n = int(sys.argv[1])
    seconds = float(sys.argv[2])
    print("READY", flush=True)
    wait_for_go()
    shorts = [threading.Thread(target=short, args=(i,), name="py-short-%d" % i)
              for i in range(n)]
    longs = [threading.Thread(target=long, args=(i, seconds), name="py-long-%d" % i)
             for i in range(n)]
    ren = threading.Thread(target=renamed, args=(seconds,), name="py-before-rename")
    for t in shorts + longs + [ren]:
        t.start()
    for t in shorts:
        t.join()
    print("DONE", flush=True)
    for t in longs + [ren]:
        t.join()


main()
