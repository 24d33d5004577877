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


deadline = time.thread_time() + float(sys.argv[1])  # of its own CPU time
print("READY", flush=True)
while time.thread_time() < deadline:
    # turns of 10 ms of CPU: even a target held to a tenth of a CPU
    # takes 20 turns in a 2 s recording, so each method's share holds
    Foo().run(0.01)
    Bar().run(0.01)
