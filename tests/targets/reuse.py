"""Code objects freed and their addresses reused by other functions.

Functions are created one after another from the same source shape, so
they share co_firstlineno and the allocator hands each new code object the
address of the one just freed. Even-numbered functions spin for SHORT
seconds of CPU time, odd ones for LONG: a profiler that labelled one function with
another's name would show the wrong time for it.

Prints `CODE <name> <address>` for every function, then `DONE`.
usage: reuse.py ROUNDS SHORT LONG
"""
import gc
import sys
import time

from wait_go import wait_for_go

SOURCE = """
def {name}(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
"""


def main():
    rounds = int(sys.argv[1])
    short, long_ = float(sys.argv[2]), float(sys.argv[3])
    print("READY", flush=True)
    wait_for_go()
    for i in range(rounds):
        name = "dyn_func_%03d" % i
        namespace = {"time": time}
        exec(compile(SOURCE.format(name=name), "<reuse>", "exec"), namespace)
        func = namespace[name]
        print("CODE %s %#x" % (name, id(func.__code__)), flush=True)
        func(short if i % 2 == 0 else long_)
        del func, namespace
        gc.collect()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
