"""Runs a CPU loop inside a sub-interpreter (the interpreter's own
_interpreters / _xxsubinterpreters module), the way mod_wsgi runs apps.

usage: subinterp.py SECONDS
"""
import sys
import time

try:
    import _interpreters as interpreters  # 3.13+
except ImportError:
    import _xxsubinterpreters as interpreters  # 3.8-3.12

CODE = """
import time
def sub_interpreter_work(deadline):
    x = 0
    while time.monotonic() < deadline:
        x += 1
sub_interpreter_work(%r)
"""


def main():
    seconds = float(sys.argv[1])
    interp = interpreters.create()
    print("READY", flush=True)
    deadline = time.monotonic() + seconds
    if hasattr(interpreters, "run_string"):
        interpreters.run_string(interp, CODE % deadline)
    else:
        interpreters.exec(interp, CODE % deadline)
    interpreters.destroy(interp)


if __name__ == "__main__":
    main()
