"""Frames with known local variables of every kind, for `dump --locals`.

Writes "LOCALS FUNCTION JSON" lines to OUTFILE for each of the two waiting
frames: {name: [kind, type name, value]} as Python sees them (value: the
object itself for str, int, float, bool and None, else null), then prints
READY and waits.
kind: "local" (arguments too), "cell" (captured by a nested function),
"free" (captured from the enclosing one). Unbound variables are left out.

usage: locals_target.py SECONDS OUTFILE
"""
import json
import sys
import threading


class Custom:
    pass


SIMPLE = (str, int, float, bool, type(None))
ready = threading.Event()
done = threading.Event()


def report(func, kinds, local_vars):
    out = {}
    for name, value in local_vars.items():
        out[name] = [kinds.get(name, "local"), type(value).__name__,
                     value if type(value) in SIMPLE else None]
    with open(sys.argv[2], "a") as f:
        f.write("LOCALS %s %s\n" % (func, json.dumps(out)))


def with_cells(count, label="a 'quoted'\nlabel", *rest, **options):
    captured = count * 2
    big = 2 ** 70
    negative = -12345678901
    small_float = 1.5e-07
    round_float = 100.0
    nothing = None
    yes, no = True, False
    items = [1, 2, 3]
    obj = Custom()
    long_text = "x" * 200
    unicode = "h\u00e9llo \u2713 \"both\" 'quotes'"
    hostile = "\x1b[2J\x7f\x85"
    gone = 1
    del gone

    def inner(depth):
        local_in_inner = captured + depth
        report("inner", {"captured": "free"}, dict(locals()))
        ready.set()
        done.wait(float(sys.argv[1]))

    report("with_cells", {"captured": "cell"}, dict(locals()))
    inner(1)


t = threading.Thread(target=with_cells, args=(3, "label", 4.25), kwargs={"flag": True},
                     name="locals-thread")
t.start()
ready.wait()
sys.stdout.write("READY\n")
sys.stdout.flush()
t.join()
