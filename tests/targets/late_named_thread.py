"""A thread Python names late: started with _thread (no threading.Thread,
so no name), it spins, then registers with threading (current_thread()
makes its _DummyThread) and takes a Python name, then spins on.

usage: late_named_thread.py UNNAMED_S NAMED_CPU_S
  Prints READY, waits for the test's go (REFBPF_TEST_GO), starts the
  thread, which spins UNNAMED_S of wall time without a Python name (what
  refbpf sees of it at first), then prints "NAMED NATIVE_ID late-named",
  spins NAMED_CPU_S of its own CPU time and ends; once it has, prints DONE
  and exits.
"""
import _thread
import os
import sys
import threading
import time

from wait_go import wait_for_go

done = threading.Event()


def spin_cpu(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


tids = []


def late(unnamed_s, named_cpu_s):
    tids.append(threading.get_native_id())
    end = time.monotonic() + unnamed_s
    while time.monotonic() < end:
        pass
    threading.current_thread().name = "late-named"
    print("NAMED %d late-named" % threading.get_native_id(), flush=True)
    spin_cpu(named_cpu_s)
    done.set()


print("READY", flush=True)
wait_for_go()
_thread.start_new_thread(late, (float(sys.argv[1]), float(sys.argv[2])))
done.wait()
while os.path.exists("/proc/self/task/%d" % tids[0]):   # ended, not ending
    time.sleep(0.01)
print("DONE", flush=True)
