"""Two threads other than the main one run the same function at once, each
with another line hot: on a free-threaded 3.14+ build each runs its own
copy of work()'s bytecode (thread-local bytecode; with PYTHON_TLBC=0 they
share the code object's own). The main thread never runs work().

Prints "READY CODE A B": work's code object's address (its id) and the
thread ids (threading.get_ident()) of thread_a and thread_b, once both
run work(). Runs until killed.

usage: tlbc_threads.py
"""
import threading


def work(which, running):
    x = 0
    running.release()
    while True:                          # @loop
        if which:                        # @branch
            x = (x * 31 + 7) % 1000003   # @hot_b
        else:
            x = (x * 17 + 3) % 999983    # @hot_a


def thread_a(running):
    work(0, running)


def thread_b(running):
    work(1, running)


def main():
    running = threading.Semaphore(0)
    threads = [threading.Thread(target=body, args=(running,), daemon=True)
               for body in (thread_a, thread_b)]
    for t in threads:
        t.start()
    running.acquire()
    running.acquire()
    print("READY %#x %#x %#x" % (id(work.__code__), threads[0].ident, threads[1].ident),
          flush=True)
    threading.Event().wait()


main()
