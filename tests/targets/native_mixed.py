"""--native target: Python -> C -> Python -> C, over and over.
Usage: native_mixed.py EXT_DIR SECONDS"""
import sys
import time

sys.path.insert(0, sys.argv[1])
import native_ext  # noqa: E402


def py_inner():
    native_ext.c_spin(0.02)  # @spin


def py_outer():
    native_ext.c_call_back(py_inner)  # @call_back


print("READY", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    py_outer()
