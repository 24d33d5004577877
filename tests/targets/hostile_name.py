"""Spins in a function whose code object is renamed to markup.

usage: hostile_name.py SECONDS
"""
import sys
import time

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def spin(deadline):
    while time.monotonic() < deadline:
        pass


spin.__code__ = spin.__code__.replace(co_name=HOSTILE, **(
    {"co_qualname": HOSTILE} if sys.version_info >= (3, 11) else {}))
print("READY", flush=True)
spin(time.monotonic() + float(sys.argv[1]))
