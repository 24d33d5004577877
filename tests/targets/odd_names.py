"""Functions whose names and file names are long or not ASCII, the way
generated code and non-English code bases have them, run in turn for
SECONDS of the process's own CPU time (a busy machine may hold it off the
CPU for longer than a recording lasts): refbpf must read each str from the target as it is, whatever its
length and its width in bytes per character (1, 2 or 4).

usage: odd_names.py SECONDS (the tests import NAMES and FILES from here)
"""
import sys
import time

NAMES = [
    "long_" + "x" * 1000,             # longer than one read of a str
    "ünïcode_latin1",                 # 1 byte per char, not ASCII
    "Ωmega_ucs2",                     # 2 bytes per char
    "😀_ucs4",                        # 4 bytes per char
    "😀" * 300,                       # 4 bytes per char, long
]
FILES = ["/srv/" + "d" * 700 + "/gen.py", "/srv/ünï.py", "/srv/Ω.py", "/srv/😀.py", "/srv/😀.py"]
SOURCE = """
def spin(deadline):
    while time.thread_time() < deadline:
        pass
"""


def make(name, filename):
    namespace = {"time": time}
    exec(compile(SOURCE, filename, "exec"), namespace)
    fn = namespace["spin"]
    fn.__code__ = fn.__code__.replace(co_name=name, **(
        {"co_qualname": name} if sys.version_info >= (3, 11) else {}))
    return fn


def main():
    seconds = float(sys.argv[1])
    functions = [make(n, f) for n, f in zip(NAMES, FILES)]
    print("READY", flush=True)
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        for fn in functions:
            fn(time.thread_time() + 0.02)


if __name__ == "__main__":
    main()
