"""Threads parked in known places, as CPython's remote-unwinder test and
py-spy's longsleep.py and thread_names.py have them: a thread in
bar -> baz -> foo, asleep; ten named threads asleep in longsleep; the main
thread joining the first. Prints VIEW (own_view.py) once all are parked.
"""
import sys
import threading
import time

from own_view import marked, report_when_parked


def bar():
    for x in range(100):
        if x == 50:
            baz()  # @baz


def baz():
    foo()  # @foo


def foo():
    time.sleep(3600)  # @sleep @park


def longsleep():
    time.sleep(3600)  # @park


def main():
    first = threading.Thread(target=bar, name="bar-thread", daemon=True)
    first.start()
    for i in range(10):
        threading.Thread(target=longsleep, name="CustomThreadName-%d" % i, daemon=True).start()
    report_when_parked(__file__, marked(__file__))
    first.join()  # @park


if __name__ == "__main__":
    sys.exit(main())
