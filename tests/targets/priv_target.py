"""Target for tests/test_security.py: a user's process, and what it turns
into through a setuid-root interpreter.

    spin SECS                  spin_here() for SECS seconds
    spawn GO SUID_PY SECS      parent_spin() until the file GO exists, then
                               start SUID_PY running `root_spin SECS` as a
                               child, print "CHILD <pid>", keep spinning
    exec GO SUID_PY SECS       before_exec() until GO exists, then exec
                               SUID_PY running `root_spin SECS`
    root_spin SECS             root_side_spin() (under SUID_PY: euid 0)
    nodump GO SECS             before_nodump() until GO exists, then
                               prctl(PR_SET_DUMPABLE, 0), after_nodump()
"""
import ctypes
import os
import subprocess
import sys
import time


def spin_here(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def parent_spin(until):
    while not until():
        pass


def before_exec(go):
    while not os.path.exists(go):
        pass


def before_nodump(go):
    while not os.path.exists(go):
        pass


def after_nodump(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def root_side_spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main():
    mode = sys.argv[1]
    if mode == "root_spin":
        root_side_spin(float(sys.argv[2]))
        return
    print("READY", flush=True)
    if mode == "spin":
        spin_here(float(sys.argv[2]))
    elif mode == "spawn":
        go, suid_python, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
        parent_spin(lambda: os.path.exists(go))
        child = subprocess.Popen([suid_python, __file__, "root_spin", str(seconds)])
        print("CHILD %d" % child.pid, flush=True)
        end = time.monotonic() + seconds
        parent_spin(lambda: time.monotonic() >= end)
        child.wait()
    elif mode == "nodump":
        before_nodump(sys.argv[2])
        PR_SET_DUMPABLE = 4
        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "prctl")
        after_nodump(float(sys.argv[3]))
    elif mode == "exec":
        go, suid_python, seconds = sys.argv[2], sys.argv[3], sys.argv[4]
        before_exec(go)
        os.execv(suid_python, [suid_python, __file__, "root_spin", seconds])


main()
