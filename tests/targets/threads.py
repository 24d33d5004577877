"""Several threads, each running its own function, plus an idle one.

usage: threads.py SECONDS NTHREADS
"""
import sys
import threading
import time


def name_os_thread(name):
    """Set the thread's OS name (comm), as servers and Python 3.14 do."""
    try:
        with open("/proc/self/task/%d/comm" % threading.get_native_id(), "w") as f:
            f.write(name)
    except OSError:
        pass


def make_worker(i):
    def body(deadline):
        name_os_thread("worker-%d" % i)
        x = 0
        while time.monotonic() < deadline:
            x += 1
    body.__name__ = body.__qualname__ = "thread_work_%d" % i
    body.__code__ = body.__code__.replace(co_name="thread_work_%d" % i,
                                          **({"co_qualname": "thread_work_%d" % i}
                                             if sys.version_info >= (3, 11) else {}))
    return body


def main():
    seconds = float(sys.argv[1])
    n = int(sys.argv[2])
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=make_worker(i), args=(deadline,), name="worker-%d" % i)
               for i in range(n)]
    idle = threading.Thread(target=time.sleep, args=(seconds,), name="idle", daemon=True)
    idle.start()
    for t in threads:
        t.start()
    print("READY", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
