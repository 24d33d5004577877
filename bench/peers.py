"""The profilers refbpf is measured against, run the way bench/run.py runs
refbpf: Austin 3.7 (a sampler reading the target with process_vm_readv,
built by scripts/fetch-austin.sh) and cProfile (a deterministic profiler
inside the target)."""
import os
import re
import signal
import subprocess
import tempfile
import time

from common import BenchError, reap, spawn, task_cpu_ns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FETCH_AUSTIN = os.path.join(ROOT, "scripts", "fetch-austin.sh")


def find_austin(path=None):
    """The austin binary: PATH given, else built (once) by fetch-austin.sh."""
    if path:
        if not os.access(path, os.X_OK):
            raise BenchError("--austin %s is not executable" % path)
        return path
    r = subprocess.run(["bash", FETCH_AUSTIN], capture_output=True, text=True, timeout=900)
    out = r.stdout.strip().splitlines()
    if r.returncode != 0 or not out:
        raise BenchError("cannot build Austin 3.7 (scripts/fetch-austin.sh): %s"
                         % r.stderr.strip()[-500:])
    return out[-1]


class Austin:
    """austin -s -i INTERVAL -p PID -o FILE: CPU samples only (-s), as refbpf
    takes by default, at the interval matching `rate`."""

    def __init__(self, binary, pid, rate):
        self.out = tempfile.NamedTemporaryFile(prefix="austin-", suffix=".txt", delete=False)
        self.out.close()
        self.args = [binary, "-s", "-i", "%dus" % round(1e6 / rate), "-p", str(pid),
                     "-o", self.out.name]
        self.p = spawn(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
        self.pid = self.p.pid

    def wait_attached(self, settle=0.5):
        """Austin says nothing when it has attached (its output is buffered
        until exit) and attaches within its -t timeout (100 ms): give it
        `settle` seconds, then make sure it is still running."""
        time.sleep(settle)
        if self.p.poll() is not None:
            raise BenchError("austin exited (%s): %s" % (self.p.returncode,
                                                         self.p.stderr.read()[-500:]))

    def cpu_ns(self):
        return task_cpu_ns(self.pid)

    def stop(self):
        """SIGINT, then the collapsed stacks it wrote."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            _, err = self.p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()
            raise BenchError("austin did not exit 30 s after SIGINT")
        finally:
            reap(self.p)
        with open(self.out.name, errors="replace") as f:
            text = f.read()
        os.unlink(self.out.name)
        return text

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        reap(self.p)
        if os.path.exists(self.out.name):
            os.unlink(self.out.name)


AUSTIN_SAMPLE = re.compile(r"^P\d+;T[^;]*;(?P<frames>.*) (?P<metric>\d+)$")


def austin_function_times(text, names):
    """{function: microseconds of samples with it on the stack} from
    Austin's collapsed output (frames are `file:function:line`)."""
    totals = {n: 0 for n in names}
    samples = 0
    for line in text.splitlines():
        m = AUSTIN_SAMPLE.match(line)
        if not m:
            continue
        samples += 1
        funcs = {f.rsplit(":", 2)[1] for f in m.group("frames").split(";") if f.count(":") >= 2}
        for n in names:
            if n in funcs:
                totals[n] += int(m.group("metric"))
    return totals, samples


def cprofile_function_times(path, names):
    """{function: cumulative seconds} from a cProfile -o file."""
    import pstats

    stats = pstats.Stats(path).stats
    totals = {n: 0.0 for n in names}
    for (_, _, func), (_, _, _, cumtime, _) in stats.items():
        if func in totals:
            totals[func] += cumtime
    return totals
