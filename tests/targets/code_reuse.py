"""Code objects that differ only in what they show, each freed before the
next one is created, so the allocator hands the next one the same address.

  modules DIR COUNT SECONDS    COUNT modules mod_0.py ... with one body,
                               imported in turn (no bytecode files): each
                               is `<module>` at line 1, its line 2 burning
                               SECONDS in burn()
  exec ROUNDS SECONDS          exec(compile(src, "<string>", "exec")) of
                               sources that differ in their hot line only
                               (blank lines above it): the same file name,
                               name and first line, and line tables that
                               differ
  files DIR ROUNDS SECONDS     three files, each a function `work` at line 1
                               with the same body, loaded, run and freed
                               in turn

The CPU time each part burns is its own measure (time.thread_time):
every run prints `RAN <label> <cpu seconds> <code address> <line>`,
then `DONE`. Waits for REFBPF_TEST_GO first, when set.
"""
import gc
import os
import sys
import time

from wait_go import wait_for_go

sys.dont_write_bytecode = True

# One body for every module, small (its code object comes from pymalloc's
# pools in every version, whose freed blocks are handed out again first).
MODULE_BODY = """from __main__ import burn
burn(__name__)
"""
MODULE_CALL_LINE = 2

# Variant k of the exec'd source: k blank lines, then the same statements.
EXEC_BODY = """_t0 = thread_time()
while thread_time() < _t0 + seconds: pass
report(label, _getframe().f_code, thread_time() - _t0, hot)
"""
EXEC_VARIANTS = 4

FILE_BODY = """def work(seconds, thread_time):
    t0 = thread_time()
    while thread_time() < t0 + seconds: pass
    return thread_time() - t0
"""
FILE_HOT_LINE = 3

SECONDS = 0.0


def report(label, code, cpu_s, hot_line):
    print("RAN %s %.6f %#x %d" % (label, cpu_s, id(code), hot_line), flush=True)


def burn(label):
    """A module's body: its caller's line MODULE_CALL_LINE runs this."""
    t0 = time.thread_time()
    while time.thread_time() < t0 + SECONDS: pass
    report(label, sys._getframe(1).f_code, time.thread_time() - t0, MODULE_CALL_LINE)


def run_modules(directory, count):
    names = ["mod_%d" % i for i in range(count)]
    for name in names:
        with open(os.path.join(directory, name + ".py"), "w") as f:
            f.write(MODULE_BODY)
    sys.path.insert(0, directory)
    for name in names:
        __import__(name)
        gc.collect()


def run_exec(rounds, seconds):
    for r in range(rounds):
        for k in range(EXEC_VARIANTS):
            src = "\n" * k + EXEC_BODY
            namespace = {"thread_time": time.thread_time, "_getframe": sys._getframe,
                         "report": report, "label": "exec_%d" % k, "hot": k + 2,
                         "seconds": seconds * (k + 1)}
            exec(compile(src, "<string>", "exec"), namespace)
            del namespace, src
            gc.collect()


def run_files(directory, rounds, seconds):
    for c in "abc":
        with open(os.path.join(directory, "file_%s.py" % c), "w") as f:
            f.write(FILE_BODY)
    for r in range(rounds):
        for i, c in enumerate("abc"):
            # a new file name object each time: it is freed with the code
            # and its address reused as well
            path = os.path.join(directory, "file_%s.py" % c)
            with open(path) as f:
                namespace = {}
                exec(compile(f.read(), path, "exec"), namespace)
            work = namespace["work"]
            # each file runs its own time: a mix-up shows
            cpu = work(seconds * (i + 1), time.thread_time)
            report(os.path.basename(path), work.__code__, cpu, FILE_HOT_LINE)
            del work, namespace, path
            gc.collect()


def main():
    global SECONDS
    mode = sys.argv[1]
    print("READY", flush=True)
    wait_for_go()
    if mode == "modules":
        SECONDS = float(sys.argv[4])
        run_modules(sys.argv[2], int(sys.argv[3]))
    elif mode == "exec":
        run_exec(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "files":
        run_files(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        raise SystemExit("unknown mode " + mode)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
