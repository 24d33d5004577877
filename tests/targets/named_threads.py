"""Threads with a Python name (threading.Thread(name=...)) and a different
OS name (comm), some renamed in Python after they start, some ending early.

usage: named_threads.py NTHREADS SECONDS
  Prints READY, waits for the test's go (REFBPF_TEST_GO), then starts
  NTHREADS threads:
    "py-short-I", OS name "os-short-I": sleep 0.3 s and end (never on a
        CPU long enough to be sampled there);
    "py-long-I",  OS name "os-long-I":  spin for SECONDS of its own CPU
        time (so each is on a CPU as long on a busy machine);
    one started as "py-before-rename", renamed to
        "py-after-rename-with-a-name-longer-than-fifteen" once running;
    "py-own-os-name-is-long", whose OS name is left as Python sets it
        (3.14+: its first 15 bytes; before: the process's);
  and prints "THREAD NATIVE_ID PYTHON_NAME OS_NAME" for each, then "DONE"
  once every thread has said so and the short ones have ended. The main thread keeps its names.
"""
import sys
import threading
import time

from wait_go import wait_for_go

lock = threading.Lock()
announced = threading.Semaphore(0)


def name_os_thread(name):
    with open("/proc/self/task/%d/comm" % threading.get_native_id(), "w") as f:
        f.write(name)


def announce():
    me = threading.current_thread()
    with open("/proc/self/task/%d/comm" % threading.get_native_id()) as f:
        os_name = f.read().strip()
    say("THREAD %d %s %s" % (threading.get_native_id(), me.name, os_name))
    announced.release()


def say(line):
    """One whole line at a time, whichever thread writes."""
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def short(i):
    name_os_thread("os-short-%d" % i)
    announce()
    time.sleep(0.3)


def long(i, seconds):
    name_os_thread("os-long-%d" % i)
    announce()
    spin(seconds)


def renamed(seconds):
    me = threading.current_thread()
    name_os_thread("os-renamed")
    me.name = "py-after-rename-with-a-name-longer-than-fifteen"
    # 3.14+ set the OS name again on a rename: ours stays
    name_os_thread("os-renamed")
    announce()
    spin(seconds)


def own_os_name(seconds):
    announce()
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
    own = threading.Thread(target=own_os_name, args=(seconds,), name="py-own-os-name-is-long")
    for t in shorts + longs + [ren, own]:
        t.start()
    for t in shorts:
        t.join()
    for t in shorts + longs + [ren, own]:
        announced.acquire()
    say("DONE")
    for t in longs + [ren, own]:
        t.join()


main()
