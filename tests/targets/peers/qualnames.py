"""Two methods of one name in two classes, each on the CPU in turn (Austin's
qualnames.py): told apart by their qualified names (3.11+) and by their
first lines (every version).

usage: qualnames.py SECONDS
"""
import sys
import time


class Foo:
    def run(self, seconds):
        end = time.thread_time() + seconds
        while time.thread_time() < end:  # @foo
            pass


class Bar:
    def run(self, seconds):
        end = time.thread_time() + seconds
        while time.thread_time() < end:  # @bar
            pass


deadline = time.monotonic() + float(sys.argv[1])
print("READY", flush=True)
while time.monotonic() < deadline:
    Foo().run(0.05)
    Bar().run(0.05)
