"""--native target: most time in the kernel, inside read(2) called from
Python. Usage: native_syscall.py SECONDS"""
import os
import sys
import time

fd = os.open("/dev/zero", os.O_RDONLY)


def reader(deadline):
    while time.monotonic() < deadline:
        os.read(fd, 1 << 20)  # @read


print("READY", flush=True)
reader(time.monotonic() + float(sys.argv[1]))
