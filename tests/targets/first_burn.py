"""Spends its first 0.3 s of CPU time in first_burn(), then SECONDS of CPU
time in later(), then exits with status CODE (or kills itself with signal
-CODE when CODE is negative).

usage: first_burn.py CODE [SECONDS]
"""
import os
import sys
import time


def first_burn():
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass


def later(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


first_burn()
later(float(sys.argv[2]) if len(sys.argv) > 2 else 0.2)
code = int(sys.argv[1])
if code < 0:
    os.kill(os.getpid(), -code)
sys.exit(code)
