"""Prints `READY <thread state address> <thread pointer>` for its main
thread (one line: the test's reader waits for that alone), then spins in
pure Python for SECONDS, its thread state attached throughout (on glibc
x86-64, threading.get_ident() is pthread_self(), the thread pointer).

usage: tls_tstate.py SECONDS
"""
import ctypes
import sys
import threading
import time


def spin(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def main():
    get = ctypes.pythonapi.PyThreadState_Get
    get.restype = ctypes.c_void_p
    print("READY %#x %#x" % (get(), threading.get_ident()), flush=True)
    spin(float(sys.argv[1]))


if __name__ == "__main__":
    main()
