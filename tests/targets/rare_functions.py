"""A long-lived program whose samples keep finding functions not sampled
before: COUNT functions, all created before READY and none freed, each
run in turn for about 10 ms of CPU, for SECONDS. Its code counter stands
still, so refbpf need not wake for each newly seen one.

usage: rare_functions.py COUNT SECONDS
"""
import sys
import time

SOURCE = """
def rare_{i:04d}():
    end = time.thread_time() + 0.01
    while time.thread_time() < end:
        pass
"""


def main():
    count, seconds = int(sys.argv[1]), float(sys.argv[2])
    namespace = {"time": time}
    for i in range(count):
        exec(compile(SOURCE.format(i=i), "<rare>", "exec"), namespace)
    functions = [namespace["rare_%04d" % i] for i in range(count)]
    print("READY", flush=True)
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        functions[i % count]()
        i += 1


if __name__ == "__main__":
    main()
