"""refbpf benchmarks: one command, one table, every comparison measured side
by side in the same run (medians of several runs). See bench/README.md.

  sudo /usr/bin/python3 bench/run.py            # ~11 minutes
  sudo /usr/bin/python3 bench/run.py --quick    # ~3 minutes

Stdlib only; needs root, ./refbpf (make), bpftool, wrk (else demo/load.py), and
builds Austin 3.7 once with scripts/fetch-austin.sh. Results also go to
bench/results/latest.json.
"""
import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "bench", "workload.py")
BARE_PERF = os.path.join(ROOT, "bench", "bare_perf.py")
SERVER = os.path.join(ROOT, "demo", "server.py")
SHARES = os.path.join(ROOT, "bench", "shares.py")
LOAD = os.path.join(ROOT, "demo", "load.py")
WRK_SCRIPT = os.path.join(ROOT, "bench", "paths.lua")
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"
PROG_NAME = "on_cpu_sample"
HTTP_RATES = (100, 1000)
HTTP_MODES = ("threaded", "single")

from peers import Austin, austin_function_times, cprofile_function_times, find_austin
from common import (BenchError, bpftool_progs, free_port, hz, kill_children, med,
                    on_signal, progress, prog_stats, reap, spawn, stat_cpu_s, task_cpu_ns,
                    task_schedstat, wait_line)

GOALS = {  # figure key -> (comparison, limit, text)
    "cpu_pct_100": ("<", 0.05, "< 0.05 %"),
    "cpu_pct_1000": ("<", 0.3, "< 0.3 %"),
    "http_cpu_pct_100": ("<", 0.05, "< 0.05 %"),
    "http_cpu_pct_1000": ("<", 0.3, "< 0.3 %"),
    "http_single_cpu_pct_100": ("<", 0.05, "< 0.05 %"),
    "http_single_cpu_pct_1000": ("<", 0.3, "< 0.3 %"),
    "first_sample_ms": ("<", 300.0, "< 300 ms"),
}
# refbpf's CPU below Austin's at every rate: Austin's / ours above 1.
for _r in (100, 1000, 10000):
    GOALS["austin_over_refbpf_cpu_%d" % _r] = (">", 1.0, "> 1x")
    GOALS["http_austin_over_refbpf_%d" % _r] = (">", 1.0, "> 1x")
    GOALS["http_single_austin_over_refbpf_%d" % _r] = (">", 1.0, "> 1x")


# ---------------------------------------------------------------- refbpf

class Refbpf:
    """One refbpf process: stdout to a temp file, stderr read by a thread that
    notes when the -v lines `attached` and `first sample` appear."""

    def __init__(self, binary, pids, rate, duration=None, extra=()):
        """pids: the targets, or None for --all."""
        where = ["-p", ",".join(str(p) for p in pids)] if pids is not None else ["--all"]
        self.args = [binary] + where + ["-F", str(rate), "-v"]
        self.args += list(extra)
        if duration is not None:
            self.args += ["-d", str(duration)]
        self.rate = rate
        self.out = tempfile.TemporaryFile(mode="w+")
        self.err_lines = []
        self.events = {}
        self.seen = {"attached": threading.Event(), "first": threading.Event()}
        self.t_launch = time.monotonic()
        self.p = spawn(self.args, stdin=subprocess.DEVNULL, stdout=self.out,
                       stderr=subprocess.PIPE, text=True, errors="replace")
        self.pid = self.p.pid
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        self.rusage = None
        self.stdout = ""

    def _read_stderr(self):
        for line in self.p.stderr:
            now = time.monotonic()
            self.err_lines.append(line.rstrip("\n"))
            for key, pat in (("attached", r"attached ([\d.]+) ms after start"),
                             ("first", r"first sample ([\d.]+) ms after start")):
                m = re.search(pat, line)
                if m and key not in self.events:
                    self.events[key] = {"reported_ms": float(m.group(1)),
                                        "seen_ms": (now - self.t_launch) * 1e3,
                                        "cpu_ns": task_cpu_ns(self.pid)}
                    self.seen[key].set()
        for ev in self.seen.values():
            ev.set()  # EOF: wake waiters, they check self.events

    def describe(self):
        tail = [l for l in self.err_lines if not l.startswith("libbpf:")][-15:]
        return "`%s` (exit status %s); stderr:\n    %s" % (
            " ".join(self.args), self.p.returncode, "\n    ".join(tail) or "(nothing)")

    def wait_for(self, key, timeout=30.0):
        if not self.seen[key].wait(timeout) or key not in self.events:
            self.p.poll()
            raise BenchError("refbpf never printed its `%s` line: %s" % (key, self.describe()))
        return self.events[key]

    def cpu_ns(self):
        return task_cpu_ns(self.pid)

    def wait_wakeup(self, timeout=7.0):
        """Wait until refbpf next wakes (it consumes every sample waiting
        then): at low rates it sleeps up to 5 s between batches, and the
        processing of a window's samples belongs to that window."""
        before = task_schedstat(self.pid, 2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if task_schedstat(self.pid, 2) != before:
                time.sleep(0.05)  # let it finish the batch
                return
        raise BenchError("refbpf did not wake within %.0f s: %s" % (timeout, self.describe()))

    def bpf_stats(self):
        """(run time of all of this process's BPF programs, run time and run
        count of its on_cpu_sample program(s)), in ns, from bpftool. The
        process-lifetime tracepoints run on every fork, exec and exit on
        the host (a thread per request is one of each) and count as
        refbpf's cost too. The process's fds tell which loaded programs are
        ours (other refbpf runs may be loaded too)."""
        progs = bpftool_progs()
        try:
            total, _ = prog_stats(self.pid, None, progs)
            sampler_ns, runs = prog_stats(self.pid, {PROG_NAME}, progs)
        except BenchError as e:
            raise BenchError("%s: %s" % (e, self.describe()))
        return total, sampler_ns, runs

    def _finish(self, status, rusage):
        self.p.returncode = os.waitstatus_to_exitcode(status)
        self.rusage = rusage
        self.reader.join(timeout=10)
        self.p.stderr.close()
        self.out.seek(0)
        self.stdout = self.out.read()
        self.out.close()
        reap(self.p)

    def stop(self, timeout=60):
        """SIGINT (Ctrl-C), wait for the report."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.p.kill()
                pid, status, rusage = os.wait4(self.pid, 0)
                self._finish(status, rusage)
                raise BenchError("refbpf did not exit %d s after SIGINT: %s"
                                 % (timeout, self.describe()))
            time.sleep(0.01)
        self._finish(status, rusage)
        if self.p.returncode != 0:
            raise BenchError("refbpf failed: %s" % self.describe())
        return self.summary()

    def summary(self):
        m = re.search(r";\s*(\d+) samples", self.stdout)
        lost = re.search(r"Samples lost: (\d+); not unwound: (\d+)(?: \(([^)]*)\))?", self.stdout)
        return {"samples": int(m.group(1)) if m else None,
                "lost": int(lost.group(1)) if lost else None,
                "not_unwound": int(lost.group(2)) if lost else None,
                "not_unwound_why": (lost.group(3) or "") if lost else None,
                "exit_cpu_s": (self.rusage.ru_utime + self.rusage.ru_stime) if self.rusage else None}


# ---------------------------------------------------------------- targets

class Workload:
    def __init__(self, python, seconds, depth, prefix=(), warmup=0.0):
        self.seconds, self.warmup, self.warmup_cpu_s = seconds, warmup, 0.0
        self.p = spawn([python] + list(prefix) + [WORKLOAD, str(seconds), str(depth), "--go",
                                                  "--warmup=%g" % warmup],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.p.pid
        wait_line(self.p.stdout, r"READY", 30, "workload")

    def go(self):
        """Start; with a warm-up, return once it is over and the window
        has begun."""
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        if self.warmup > 0:
            m = wait_line(self.p.stdout, r"WARM cpu=([\d.]+)", self.warmup + 60, "workload")
            self.warmup_cpu_s = float(m.group(1))

    def result(self):
        m = wait_line(self.p.stdout, r"RESULT iterations=(\d+) seconds=([\d.]+) cpu=([\d.]+) "
                      r"depth=(\d+)", self.seconds + 60, "workload")
        return {"iterations": int(m.group(1)), "seconds": float(m.group(2)),
                "cpu_s": float(m.group(3)), "depth": int(m.group(4)),
                "iter_per_s": int(m.group(1)) / float(m.group(2))}

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        reap(self.p)


# ---------------------------------------------------------------- experiments

def check_profile(prof, summary, expect_function, anomalies, label, threaded=False):
    """refbpf must have recorded the target's Python stacks. A server that
    starts a thread per request has samples of threads that have no thread
    state or no Python frame yet: those are counted, not flagged."""
    problems = []
    if not summary["samples"]:
        problems.append("no samples (or no `N samples` in its summary)")
    if expect_function and expect_function not in prof.stdout:
        problems.append("report does not mention %s()" % expect_function)
    if summary["lost"]:
        problems.append("%d samples lost" % summary["lost"])
    if summary["not_unwound"] and not threaded:
        problems.append("%d samples not unwound" % summary["not_unwound"])
    for p in problems:
        anomalies.append("%s: %s" % (label, p))


def workload_run(args, config, seconds, depth, anomalies, label):
    """One timed window of the workload under `config`: (kind, rate) with
    kind one of none, refbpf, bare (bare_perf.py's perf events, no BPF),
    austin, cprofile. A sampler attaches while the workload is idle, the
    workload warms up for args.warmup seconds on the window's stack (every
    function is new to the sampler then, as in the first moments of any
    profile), then the window runs; CPU and BPF counters are read around
    the window, the sampler still running."""
    kind, rate = config
    prof_out = None
    if kind == "cprofile":
        prof_out = tempfile.NamedTemporaryFile(prefix="cprofile-", suffix=".out", delete=False)
        prof_out.close()
    warmup = getattr(args, "warmup", 0.0)
    wl = Workload(args.python, seconds, depth,
                  ("-m", "cProfile", "-o", prof_out.name) if prof_out else (), warmup)
    prof = bare_p = austin = None
    try:
        if kind == "bare":
            bare_p = spawn([sys.executable, BARE_PERF, str(rate)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, text=True)
            wait_line(bare_p.stdout, r"READY", 30, "bare_perf.py")
        elif kind == "refbpf":
            prof = Refbpf(args.refbpf, [wl.pid], rate)
            prof.wait_for("attached")
            c_attached = prof.cpu_ns()
        elif kind == "austin":
            austin = Austin(args.austin, wl.pid, rate)
            austin.wait_attached()
        wl.go()
        if kind == "refbpf":
            c0, (b0, sb0, n0) = prof.cpu_ns(), prof.bpf_stats()
        elif kind == "austin":
            a0 = austin.cpu_ns()
        w0 = time.monotonic()
        res = wl.result()
        res["warmup_cpu_s"] = wl.warmup_cpu_s
        res["window_s"] = time.monotonic() - w0
        res["kind"], res["rate"] = kind, rate
        if kind == "austin":
            a1 = austin.cpu_ns()
            text = austin.stop()
            proc_s = (a1 - a0) / 1e9
            res.update({"peer_cpu_s": proc_s, "cpu_pct": 100 * proc_s / res["cpu_s"],
                        "samples": sum(1 for l in text.splitlines() if l.startswith("P"))})
        elif kind == "refbpf":
            b1, sb1, n1 = prof.bpf_stats()
            prof.wait_wakeup()
            c1 = prof.cpu_ns()
            summary = prof.stop()
            check_profile(prof, summary, "work_unit", anomalies, label)
            res.update(summary)
            proc_s, bpf_s = (c1 - c0) / 1e9, (b1 - b0) / 1e9
            res.update({
                "refbpf_proc_cpu_s": proc_s, "bpf_cpu_s": bpf_s,
                "bpf_run_cnt": n1 - n0,
                "refbpf_proc_cpu_pct": 100 * proc_s / res["cpu_s"],
                "bpf_cpu_pct": 100 * bpf_s / res["cpu_s"],
                "cpu_pct": 100 * (proc_s + bpf_s) / res["cpu_s"],
                "refbpf_proc_cpu_per_s": proc_s / res["window_s"],
                "expected_samples": (res["cpu_s"] + wl.warmup_cpu_s) * rate,
                "bpf_ns_per_run": (sb1 - sb0) / max(1, n1 - n0),
                # the warm-up: symbolizing the functions first seen in it
                "warmup_proc_cpu_s": (c0 - c_attached) / 1e9,
            })
            # The target is idle outside the warm-up and the window: the
            # window's share of the samples recorded is its share of the
            # target's CPU time.
            share = res["cpu_s"] / max(1e-9, res["cpu_s"] + wl.warmup_cpu_s)
            samples = (res["samples"] or res["expected_samples"]) * share
            res["bpf_ns_per_sample"] = (sb1 - sb0) / max(1.0, samples)
            res["samples_vs_expected"] = (res["samples"] or 0) / max(1.0, res["expected_samples"])
        return res
    finally:
        if prof and prof.p.returncode is None:
            prof.p.kill()
        if austin:
            austin.kill()
        if bare_p:
            bare_p.kill()
            bare_p.wait()
            reap(bare_p)
        wl.close()
        if prof_out:
            os.unlink(prof_out.name)


def config_key(config):
    kind, rate = config
    return "%s%d" % (kind, rate) if rate else kind


def config_name(config):
    kind, rate = config
    return {"none": "no profiler", "cprofile": "python -m cProfile"}.get(kind) or \
        "%s @ %s" % ({"bare": "bare perf events"}.get(kind, kind), hz(rate))


def idle_miss_cost(args, rate, seconds):
    """BPF ns per run when the sampled task is not a target: refbpf attached
    to an idle workload, so every run of on_cpu_sample is a miss."""
    wl = Workload(args.python, 1, 10)
    prof = Refbpf(args.refbpf, [wl.pid], rate)
    try:
        prof.wait_for("attached")
        _, sb0, n0 = prof.bpf_stats()
        time.sleep(seconds)
        _, sb1, n1 = prof.bpf_stats()
        prof.stop()
        return {"bpf_ns_per_run": (sb1 - sb0) / max(1, n1 - n0), "runs": n1 - n0}
    finally:
        if prof.p.returncode is None:
            prof.p.kill()
        wl.close()


def startup_run(args, duration, rate, anomalies, label):
    """refbpf -d DURATION on a spinning workload: launch -> attached / first
    sample (refbpf's own -v figures: it prints the first-sample line when
    recording ends), launch -> `attached` as seen from here, its CPU when
    `attached` is read, and its total CPU at exit."""
    wl = Workload(args.python, duration + 30, 20)
    prof = None
    try:
        wl.go()
        time.sleep(0.2)
        prof = Refbpf(args.refbpf, [wl.pid], rate, duration=duration)
        att = prof.wait_for("attached")
        first = prof.wait_for("first", timeout=duration + 30)
        summary = prof.wait(timeout=duration + 60)
        check_profile(prof, summary, "work_unit", anomalies, label)
        return {"attached_ms": att["reported_ms"], "first_sample_ms": first["reported_ms"],
                "attached_seen_ms": att["seen_ms"],
                "cpu_at_attached_ms": (att["cpu_ns"] or 0) / 1e6,
                "exit_cpu_ms": summary["exit_cpu_s"] * 1e3, "duration_s": duration,
                "samples": summary["samples"]}
    finally:
        if prof and prof.p.returncode is None:
            prof.p.kill()
        wl.p.kill()
        wl.close()


def run_load(args, port, seconds):
    """Requests/s of a bounded load (args.concurrency connections) on
    loopback: wrk when installed, else demo/load.py."""
    if args.wrk:
        cmd = [args.wrk, "-t", "1", "-c", str(args.concurrency), "-d", "%ds" % max(1, round(seconds)),  # whole seconds only
               "-s", WRK_SCRIPT, "http://127.0.0.1:%d/" % port]
        pattern = r"Requests/sec:\s*([\d.]+)"
    else:
        cmd = [args.python, LOAD, str(port), str(seconds), str(args.concurrency)]
        pattern = r"requests: \d+ \(([\d.]+)/s\)"
    p = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              text=True)
    try:
        out, err = p.communicate(timeout=seconds + 60)
    finally:
        reap(p)
    m = re.search(pattern, out)
    if p.returncode != 0 or not m:
        raise BenchError("%s failed (status %s): %s %s" % (cmd[0], p.returncode, out, err))
    return float(m.group(1))


def start_demo_server(python, mode, **kw):
    """The demo server on a free port (mode: threaded, a thread per
    request; single, one request at a time) once it prints READY:
    (process, port)."""
    port = free_port()
    srv = spawn([python, SERVER, str(port)] + (["--single-thread"] if mode == "single" else []),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, **kw)
    try:
        wait_line(srv.stdout, r"READY", 30, "demo server")
    except BaseException:
        srv.kill()
        srv.wait()
        reap(srv)
        raise
    return srv, port


def http_run(args, config, anomalies, label, mode):
    """The demo server (mode: threaded, a thread per request; single, one
    request at a time) under a bounded load: a warm-up load (not measured),
    then the measured load; server and profiler CPU read around it."""
    kind, rate = config
    srv, port = start_demo_server(args.python, mode)
    prof = austin = None
    try:
        if kind == "refbpf":
            prof = Refbpf(args.refbpf, [srv.pid], rate)
            prof.wait_for("attached")
        elif kind == "austin":
            austin = Austin(args.austin, srv.pid, rate)
            austin.wait_attached()
        if prof:
            c_attached = prof.cpu_ns()
        run_load(args, port, args.http_warmup)
        if prof:
            # The server idles between the loads: once refbpf has woken,
            # every warm-up sample is processed, none left for the window.
            prof.wait_wakeup()
        s0 = stat_cpu_s(srv.pid)
        if prof:
            c0, (b0, sb0, n0) = prof.cpu_ns(), prof.bpf_stats()
        if austin:
            a0 = austin.cpu_ns()
        rps = run_load(args, port, args.http_seconds)
        if austin:
            a1 = austin.cpu_ns()
        if prof:
            b1, sb1, n1 = prof.bpf_stats()
            prof.wait_wakeup()
            c1 = prof.cpu_ns()
        s1 = stat_cpu_s(srv.pid)
        res = {"kind": kind, "rate": rate, "rps": rps, "server_cpu_s": s1 - s0, "mode": mode}
        if prof:
            summary = prof.stop()
            check_profile(prof, summary, "do_GET", anomalies, label, threaded=True)
            res.update(summary)
            proc_s, bpf_s = (c1 - c0) / 1e9, (b1 - b0) / 1e9
            res.update({"refbpf_proc_cpu_s": proc_s, "bpf_cpu_s": bpf_s,
                        "bpf_run_cnt": n1 - n0, "sampler_bpf_cpu_s": (sb1 - sb0) / 1e9,
                        # the warm-up: symbolizing the functions first seen in it
                        "warmup_proc_cpu_s": (c0 - c_attached) / 1e9,
                        "cpu_pct": 100 * (proc_s + bpf_s) / max(1e-9, s1 - s0)})
        if austin and austin.p.poll() is not None:
            # it gave up on the target during the load
            res["peer_exited"] = True
        elif austin:
            austin.stop()
            res["cpu_pct"] = 100 * (a1 - a0) / 1e9 / max(1e-9, s1 - s0)
        return res
    finally:
        if prof and prof.p.returncode is None:
            prof.p.kill()
        if austin:
            austin.kill()
        srv.kill()
        srv.wait()
        reap(srv)


def folded_function_counts(path, names):
    """{function: samples with it on the stack} from refbpf's --folded file
    (frames are `qualname (file:line)`)."""
    totals = {n: 0 for n in names}
    with open(path, encoding="utf-8") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            funcs = {frame.rsplit(" (", 1)[0] for frame in stack.split(";")}
            for n in names:
                if n in funcs:
                    totals[n] += int(count)
    return totals


def shares_of(totals):
    total = sum(totals.values())
    return {n: 100.0 * v / total for n, v in totals.items()} if total else None


def accuracy_run(args, config, anomalies, label):
    """shares.py under a profiler: per function, the share of the four
    functions' time the profiler reports against the share the target
    measured itself (thread CPU time), in percentage points."""
    kind, rate = config
    tmp = tempfile.mkdtemp(prefix="refbpf-bench-")
    out = os.path.join(tmp, "profile")
    prefix = ["-m", "cProfile", "-o", out] if kind == "cprofile" else []
    target = spawn([args.python] + prefix + [SHARES, str(args.accuracy_seconds)],
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    prof = austin = None
    try:
        wait_line(target.stdout, r"READY", 30, "shares.py")
        if kind == "refbpf":
            prof = Refbpf(args.refbpf, [target.pid], rate, extra=["--folded", out])
            prof.wait_for("attached")
        elif kind == "austin":
            austin = Austin(args.austin, target.pid, rate)
            austin.wait_attached()
        target.stdin.write("go\n")
        target.stdin.flush()
        truth = {}
        while len(truth) < 4:
            m = wait_line(target.stdout, r"SHARE (\w+) ([\d.]+)", args.accuracy_seconds + 60,
                          "shares.py")
            truth[m.group(1)] = float(m.group(2))
        names = list(truth)
        if kind == "refbpf":
            summary = prof.stop()
            check_profile(prof, summary, "alpha", anomalies, label)
            measured = folded_function_counts(out, names)
        elif kind == "austin":
            measured, _ = austin_function_times(austin.stop(), names)
        target.stdin.close()
        target.wait(timeout=30)
        if kind == "cprofile":
            measured = cprofile_function_times(out, names)
        want, got = shares_of(truth), shares_of(measured)
        if not got:
            raise BenchError("%s: the profile holds none of %s" % (label, ", ".join(names)))
        errors = {n: abs(got[n] - want[n]) for n in names}
        return {"kind": kind, "rate": rate, "truth_pct": want, "measured_pct": got,
                "error_pp": errors, "max_error_pp": max(errors.values())}
    finally:
        if prof and prof.p.returncode is None:
            prof.p.kill()
        if austin:
            austin.kill()
        if target.poll() is None:
            target.kill()
            target.wait()
        reap(target)
        shutil.rmtree(tmp, ignore_errors=True)


def vm_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M)
    return int(m.group(1)) if m else None


def capacity_run(args, anomalies):
    """The demo server under load, sampled at 10 kHz for as long as an hour
    at 100 Hz takes to collect (360,000 samples of varied stacks): refbpf's
    userspace CPU per sample (so how many samples a core ingests and
    symbolizes per second) and its resident memory along the way."""
    port = free_port()
    srv = spawn([args.python, SERVER, str(port)], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, text=True)
    prof = load = None
    try:
        wait_line(srv.stdout, r"READY", 30, "demo server")
        prof = Refbpf(args.refbpf, [srv.pid], 10000)
        prof.wait_for("attached")
        load = threading.Thread(target=run_load, args=(args, port, args.hour_seconds + 2))
        load.start()
        c0, t0 = prof.cpu_ns(), time.monotonic()
        rss = []
        while time.monotonic() - t0 < args.hour_seconds:
            time.sleep(args.hour_seconds / 10)
            rss.append((time.monotonic() - t0, vm_kb(prof.pid, "VmRSS")))
        c1 = prof.cpu_ns()
        hwm = vm_kb(prof.pid, "VmHWM")
        summary = prof.stop()
        load.join()
        check_profile(prof, summary, "do_GET", anomalies, "capacity run", threaded=True)
        samples = summary["samples"] or 0
        per_sample_us = (c1 - c0) / 1e3 / max(1, samples)
        return {"samples": samples, "lost": summary["lost"], "proc_cpu_s": (c1 - c0) / 1e9,
                "us_per_sample": per_sample_us, "ingest_per_core_s": 1e6 / per_sample_us,
                "rss_kb": rss, "hwm_kb": hwm, "window_s": time.monotonic() - t0}
    finally:
        if prof and prof.p.returncode is None:
            prof.p.kill()
        srv.kill()
        srv.wait()
        reap(srv)


def fmt(v, spec, unit=""):
    if v is None:
        return "n/a"
    return (spec % v) + unit


def verdict(key, value):
    if key not in GOALS or value is None:
        return ""
    op, limit, _ = GOALS[key]
    return "ok" if (value < limit if op == "<" else value > limit) else "MISSED"


def main():
    ap = argparse.ArgumentParser(
        description="refbpf overhead benchmarks (see bench/README.md)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--python", default="/usr/bin/python3", help="target interpreter")
    ap.add_argument("--refbpf", default=os.path.join(ROOT, "refbpf"), help="refbpf binary")
    ap.add_argument("--quick", action="store_true",
                    help="fewer, shorter runs (~3 minutes); overrides the sizes below")
    ap.add_argument("--runs", type=int, default=5,
                    help="interleaved rounds of the workload (none, 100 Hz, 1 kHz, 10 kHz)")
    ap.add_argument("--seconds", type=float, default=4.0, help="workload window per run")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="workload seconds before each window (its functions first seen)")
    ap.add_argument("--rates", default="100,1000,10000", help="refbpf rates for the workload")
    ap.add_argument("--bare-rates", default="10000",
                    help="rates of the platform baseline (bare perf events, no refbpf)")
    ap.add_argument("--austin-rates", default="100,1000,10000",
                    help="rates Austin samples the workload at ('' for none)")
    ap.add_argument("--austin", help="austin binary (default: built by scripts/fetch-austin.sh)")
    ap.add_argument("--no-cprofile", dest="cprofile", action="store_false",
                    help="leave python -m cProfile out of the workload rounds")
    ap.add_argument("--stack", type=int, default=20, help="workload stack depth (frames)")
    ap.add_argument("--depths", default="10,100,1000", help="stack depths for BPF ns/sample")
    ap.add_argument("--depth-runs", type=int, default=3)
    ap.add_argument("--depth-seconds", type=float, default=3.0)
    ap.add_argument("--depth-rate", type=int, default=1000)
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--startup-duration", type=float, default=1.0, help="refbpf -d for start-up runs")
    ap.add_argument("--http-runs", type=int, default=3,
                    help="interleaved rounds of the server (none, 100 Hz, 1 kHz)")
    ap.add_argument("--http-seconds", type=float, default=6.0, help="measured load per run")
    ap.add_argument("--http-warmup", type=float, default=10.0,
                    help="unmeasured load per run: the server's rarer functions and stacks "
                         "are first seen in it (its refbpf CPU is reported apart)")
    ap.add_argument("--concurrency", type=int, default=4, help="open connections of the load")
    ap.add_argument("--no-http-austin", dest="http_austin", action="store_false",
                    help="leave Austin out of the HTTP rounds")
    ap.add_argument("--accuracy-runs", type=int, default=3)
    ap.add_argument("--accuracy-seconds", type=float, default=8.0,
                    help="window of the known-shares target per run")
    ap.add_argument("--hour-seconds", type=float, default=40.0,
                    help="capacity run: the server sampled at 10 kHz this long "
                         "(36 s of server CPU = an hour at 100 Hz)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    args = ap.parse_args()
    if args.quick:
        args.runs, args.seconds = 2, 2.5
        args.depth_runs, args.depth_seconds = 1, 2.0
        args.startup_runs, args.startup_duration = 3, 0.5
        args.http_runs, args.http_seconds, args.http_warmup = 1, 3.0, 0.5
        args.accuracy_runs, args.accuracy_seconds, args.hour_seconds = 1, 3.0, 10.0
    rates = [int(r) for r in args.rates.split(",") if r]
    bare_rates = [int(r) for r in args.bare_rates.split(",") if r]
    depths = [int(d) for d in args.depths.split(",") if d]
    austin_rates = [int(r) for r in args.austin_rates.split(",") if r]

    if os.geteuid() != 0:
        sys.exit("bench: must run as root (refbpf loads BPF programs; bpf_stats_enabled is a "
                 "sysctl): sudo %s %s" % (sys.executable, " ".join(sys.argv)))
    if not (os.path.isfile(args.refbpf) and os.access(args.refbpf, os.X_OK)):
        sys.exit("bench: %s is missing or not executable: run `make` in %s first"
                 % (args.refbpf, ROOT))
    if not os.access(args.python, os.X_OK):
        sys.exit("bench: target interpreter %s not found (--python)" % args.python)
    try:
        subprocess.run(["bpftool", "version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        sys.exit("bench: bpftool not found (apt-get install bpftool)")
    if not os.path.exists(BPF_STATS):
        sys.exit("bench: %s missing: this kernel cannot report BPF run time" % BPF_STATS)
    if austin_rates or args.http_austin:
        try:
            args.austin = find_austin(args.austin)
        except BenchError as e:
            sys.exit("bench: %s (or leave Austin out: --austin-rates '' --no-http-austin)" % e)
    args.wrk = shutil.which("wrk")

    # SIGINT too: a shell starts background jobs with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    atexit.register(kill_children)
    with open(BPF_STATS) as f:
        old_stats = f.read().strip()
    anomalies = []
    t_start = time.monotonic()
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": args.python,
           "refbpf": args.refbpf, "kernel": platform.release(), "cpus": os.cpu_count(),
           "options": {k: v for k, v in vars(args).items()}, "anomalies": anomalies}
    try:
        with open(BPF_STATS, "w") as f:
            f.write("1")
        # 1 + 4 + 6: interleaved workload runs, every configuration per round.
        configs = ([("none", 0)] + [("refbpf", r) for r in rates] +
                   [("bare", r) for r in bare_rates] +
                   [("austin", r) for r in austin_rates] +
                   ([("cprofile", 0)] if args.cprofile else []))
        wl_runs = {config_key(c): [] for c in configs}
        for i in range(args.runs):
            for c in configs:
                progress("[%3.0fs] workload round %d/%d, %s"
                         % (time.monotonic() - t_start, i + 1, args.runs, config_name(c)))
                wl_runs[config_key(c)].append(workload_run(
                    args, c, args.seconds, args.stack, anomalies,
                    "workload, %s, run %d" % (config_name(c), i + 1)))
        res["workload"] = wl_runs

        # 3: BPF time per sample at several depths, and the cost of a miss.
        progress("[%3.0fs] BPF cost of a non-target run" % (time.monotonic() - t_start))
        miss = idle_miss_cost(args, args.depth_rate, max(1.0, args.depth_seconds / 2))
        res["bpf_miss"] = miss
        depth_runs = {d: [] for d in depths}
        for i in range(args.depth_runs):
            for d in depths:
                progress("[%3.0fs] depth %d run %d/%d"
                         % (time.monotonic() - t_start, d, i + 1, args.depth_runs))
                r = workload_run(args, ("refbpf", args.depth_rate), args.depth_seconds, d, anomalies,
                                 "depth %d run %d" % (d, i + 1))
                misses = max(0, r["bpf_run_cnt"] - (r["samples"] or 0))
                r["bpf_ns_per_sample_net"] = ((r["bpf_cpu_s"] * 1e9 - misses * miss["bpf_ns_per_run"])
                                              / max(1, r["samples"] or 0))
                depth_runs[d].append(r)
        res["depth"] = {str(d): v for d, v in depth_runs.items()}

        # 2: start-up.
        su = []
        for i in range(args.startup_runs):
            progress("[%3.0fs] start-up run %d/%d" % (time.monotonic() - t_start, i + 1,
                                                      args.startup_runs))
            su.append(startup_run(args, args.startup_duration, 100, anomalies,
                                  "start-up run %d" % (i + 1)))
        steady_100 = med(x["refbpf_proc_cpu_per_s"] for x in wl_runs.get("refbpf100", []))
        for x in su:
            x["startup_cpu_ms"] = (x["exit_cpu_ms"] - steady_100 * 1e3 * x["duration_s"]
                                   if steady_100 is not None else None)
        res["startup"] = su

        # 5: the demo HTTP server, interleaved rounds.
        http_configs = ([("none", 0)] + [("refbpf", r) for r in HTTP_RATES] +
                        ([("austin", r) for r in HTTP_RATES] if args.http_austin else []))
        http = {m: {config_key(c): [] for c in http_configs} for m in HTTP_MODES}
        for i in range(args.http_runs):
            for m in HTTP_MODES:
                for c in http_configs:
                    progress("[%3.0fs] HTTP round %d/%d, %s server, %s"
                             % (time.monotonic() - t_start, i + 1, args.http_runs, m,
                                config_name(c)))
                    http[m][config_key(c)].append(http_run(
                        args, c, anomalies, "HTTP, %s server, %s, run %d"
                        % (m, config_name(c), i + 1), m))
        res["http"] = http

        # 7: accuracy against known shares, every profiler at every rate.
        acc_configs = ([("refbpf", r) for r in rates] + [("austin", r) for r in austin_rates] +
                       ([("cprofile", 0)] if args.cprofile else []))
        acc = {config_key(c): [] for c in acc_configs}
        for i in range(args.accuracy_runs):
            for c in acc_configs:
                progress("[%3.0fs] accuracy round %d/%d, %s"
                         % (time.monotonic() - t_start, i + 1, args.accuracy_runs,
                            config_name(c)))
                acc[config_key(c)].append(accuracy_run(
                    args, c, anomalies, "accuracy, %s, run %d" % (config_name(c), i + 1)))
        res["accuracy"] = acc

        # 8: ingest rate and memory over an hour-equivalent.
        progress("[%3.0fs] capacity: server at 10 kHz for %g s"
                 % (time.monotonic() - t_start, args.hour_seconds))
        cap = capacity_run(args, anomalies)
        res["capacity"] = cap
    except KeyboardInterrupt:
        kill_children()
        print("bench: interrupted; every process it started was killed", file=sys.stderr)
        sys.exit(130)
    except BenchError as e:
        kill_children()
        sys.exit("bench: %s" % e)
    finally:
        kill_children()
        with open(BPF_STATS, "w") as f:
            f.write(old_stats)
    res["elapsed_s"] = time.monotonic() - t_start

    # ------------------------------------------------------------ the table
    rows, figures = [], {}

    def section(title):
        rows.append((title,))

    def add(key, name, xs, spec, unit=""):
        """One row: the median of xs, with [min-max] when there are several."""
        xs = [x for x in xs if x is not None]
        v = med(xs)
        figures[key] = v
        text = fmt(v, spec, unit)
        if len(xs) > 1:
            text += " [%s-%s]" % (spec % min(xs), spec % max(xs))
        goal = GOALS[key][2] if key in GOALS else ""
        rows.append((name, text, (goal + "  " + verdict(key, v)).strip()))

    section("1. steady state: workload (%d frames), %d x %g s per rate; medians [min-max]"
            % (args.stack, args.runs, args.seconds))
    for r in rates:
        xs = wl_runs["refbpf%d" % r]
        add("cpu_pct_%d" % r, "refbpf CPU / target CPU @ %s" % hz(r),
            [x["cpu_pct"] for x in xs], "%.3f", " %")
        add("proc_cpu_pct_%d" % r, "  refbpf process (utime+stime)",
            [x["refbpf_proc_cpu_pct"] for x in xs], "%.3f", " %")
        add("bpf_cpu_pct_%d" % r, "  BPF program (run_time_ns)",
            [x["bpf_cpu_pct"] for x in xs], "%.3f", " %")
    for r in rates:
        add("bpf_ns_per_sample_%d" % r, "BPF ns per sample @ %s" % hz(r),
            [x["bpf_ns_per_sample"] for x in wl_runs["refbpf%d" % r]], "%.0f", " ns")
        add("bpf_ns_per_run_%d" % r, "  per run (both CPUs, non-target runs incl.)",
            [x["bpf_ns_per_run"] for x in wl_runs["refbpf%d" % r]], "%.0f", " ns")
    for r in rates:
        add("samples_vs_expected_%d" % r, "samples / (target CPU s x rate) @ %s" % hz(r),
            [x["samples_vs_expected"] for x in wl_runs["refbpf%d" % r]], "%.3f")

    section("2. start-up: refbpf -F 100 -d %g on a spinning workload, %d runs"
            % (args.startup_duration, args.startup_runs))
    add("first_sample_ms", "launch -> first sample (refbpf -v)",
        [x["first_sample_ms"] for x in su], "%.1f", " ms")
    add("attached_ms", "launch -> attached (refbpf -v)",
        [x["attached_ms"] for x in su], "%.1f", " ms")
    add("attached_seen_ms", "spawn -> `attached` line read by bench (exec incl.)",
        [x["attached_seen_ms"] for x in su], "%.1f", " ms")
    add("cpu_at_attached_ms", "refbpf CPU when `attached` was read",
        [x["cpu_at_attached_ms"] for x in su], "%.1f", " ms")
    add("startup_cpu_ms", "refbpf start-up CPU (exit CPU - steady x %g s)" % args.startup_duration,
        [x["startup_cpu_ms"] for x in su], "%.1f", " ms")
    add("exit_cpu_ms", "  refbpf CPU at exit (total)",
        [x["exit_cpu_ms"] for x in su], "%.1f", " ms")

    section("3. BPF run time per sample by stack depth, %s, %d x %g s"
            % (hz(args.depth_rate), args.depth_runs, args.depth_seconds))
    for d in depths:
        add("bpf_ns_per_sample_depth_%d" % d, "BPF ns per sample, %d frames" % d,
            [x["bpf_ns_per_sample"] for x in depth_runs[d]], "%.0f", " ns")
        add("bpf_ns_per_sample_net_depth_%d" % d, "  net of non-target runs",
            [x["bpf_ns_per_sample_net"] for x in depth_runs[d]], "%.0f", " ns")
    add("bpf_ns_per_miss", "BPF ns per non-target run (idle target)",
        [miss["bpf_ns_per_run"]], "%.0f", " ns")

    section("4. throughput: workload iterations/s; rounds interleaved, ratio = median of per-round ratios")
    add("iter_per_s_none", "iterations/s, no profiler",
        [x["iter_per_s"] for x in wl_runs["none"]], "%.0f")
    for r in rates:
        add("iter_per_s_%d" % r, "iterations/s, refbpf @ %s" % hz(r),
            [x["iter_per_s"] for x in wl_runs["refbpf%d" % r]], "%.0f")
        add("throughput_ratio_%d" % r, "  ratio to none",
            [x["iter_per_s"] / b["iter_per_s"] for x, b in zip(wl_runs["refbpf%d" % r], wl_runs["none"])], "%.3f")
    for r in bare_rates:
        k = "bare%d" % r
        add("iter_per_s_bare_%d" % r, "iterations/s, bare perf events @ %s, no refbpf" % hz(r),
            [x["iter_per_s"] for x in wl_runs[k]], "%.0f")
        add("throughput_ratio_bare_%d" % r, "  ratio to none (platform timer cost)",
            [x["iter_per_s"] / b["iter_per_s"] for x, b in zip(wl_runs[k], wl_runs["none"])], "%.3f")

    section("5. peers on the same workload, same rounds: Austin 3.7 (-s, CPU samples) and cProfile")
    for r in austin_rates:
        ours, theirs = wl_runs.get("refbpf%d" % r), wl_runs["austin%d" % r]
        add("austin_cpu_pct_%d" % r, "Austin CPU / target CPU @ %s" % hz(r),
            [x["cpu_pct"] for x in theirs], "%.3f", " %")
        if ours:
            add("austin_over_refbpf_cpu_%d" % r, "  Austin CPU / refbpf CPU (same round)",
                [a["cpu_pct"] / max(1e-9, b["cpu_pct"]) for a, b in zip(theirs, ours)], "%.1f", "x")
        add("austin_samples_per_s_%d" % r, "  Austin samples per target CPU second",
            [x["samples"] / max(1e-9, x["cpu_s"]) for x in theirs], "%.0f")
        add("austin_throughput_ratio_%d" % r, "  throughput ratio to none",
            [x["iter_per_s"] / b["iter_per_s"] for x, b in zip(theirs, wl_runs["none"])], "%.3f")
    if args.cprofile:
        ratios = [x["iter_per_s"] / b["iter_per_s"]
                  for x, b in zip(wl_runs["cprofile"], wl_runs["none"])]
        add("cprofile_throughput_ratio", "cProfile throughput ratio to none", ratios, "%.3f")
        add("cprofile_cpu_pct", "  cProfile's cost, as extra target CPU per unit of work",
            [100 * (1 / x - 1) for x in ratios], "%.0f", " %")

    for m in HTTP_MODES:
        h = http[m]
        section("6%s. demo HTTP server, %s, under %s (%d connections), %d x %g s per config"
                % ("a" if m == "threaded" else "b",
                   "a thread per request" if m == "threaded" else "one request at a time",
                   "wrk" if args.wrk else "demo/load.py (wrk not installed)", args.concurrency,
                   args.http_runs, args.http_seconds))
        p = "http_" if m == "threaded" else "http_single_"
        add(p + "rps_none", "requests/s, no profiler", [x["rps"] for x in h["none"]], "%.0f")
        for r in HTTP_RATES:
            xs = h["refbpf%d" % r]
            add(p + "rps_%d" % r, "requests/s, refbpf @ %s" % hz(r), [x["rps"] for x in xs],
                "%.0f")
            add(p + "ratio_%d" % r, "  ratio to none",
                [x["rps"] / b["rps"] for x, b in zip(xs, h["none"])], "%.3f")
        for r in HTTP_RATES:
            xs = h["refbpf%d" % r]
            add(p + "cpu_pct_%d" % r, "refbpf CPU / server CPU @ %s" % hz(r),
                [x["cpu_pct"] for x in xs], "%.3f", " %")
            add(p + "proc_cpu_pct_%d" % r, "  of which refbpf's process",
                [100 * x["refbpf_proc_cpu_s"] / max(1e-9, x["server_cpu_s"]) for x in xs],
                "%.3f", " %")
            add(p + "bpf_ns_per_sample_%d" % r,
                "  BPF ns per sample, all programs (server CPU s x rate)",
                [x["bpf_cpu_s"] * 1e9 / max(1.0, x["server_cpu_s"] * r) for x in xs], "%.0f",
                " ns")
            add(p + "warmup_proc_ms_%d" % r, "  refbpf process CPU in the warm-up load",
                [x["warmup_proc_cpu_s"] * 1e3 for x in xs], "%.1f", " ms")
            add(p + "not_unwound_pct_%d" % r, "  samples not unwound (thread start/exit)",
                [100.0 * x["not_unwound"] / x["samples"] for x in xs
                 if x.get("samples") and x.get("not_unwound") is not None], "%.1f", " %")
        if not args.http_austin:
            continue
        for r in HTTP_RATES:
            xs, ours = h["austin%d" % r], h["refbpf%d" % r]
            gave_up = sum(1 for x in xs if x.get("peer_exited"))
            if gave_up:
                rows.append(("Austin @ %s" % hz(r), "exited during the load in %d of %d runs"
                             % (gave_up, len(xs)), ""))
            kept = [(a, b) for a, b in zip(xs, ours) if not a.get("peer_exited")]
            if not kept:
                continue
            add(p + "austin_cpu_pct_%d" % r, "Austin CPU / server CPU @ %s" % hz(r),
                [a["cpu_pct"] for a, _ in kept], "%.3f", " %")
            add(p + "austin_over_refbpf_%d" % r, "  Austin CPU / refbpf CPU (same round)",
                [a["cpu_pct"] / max(1e-9, b["cpu_pct"]) for a, b in kept], "%.1f", "x")
            add(p + "austin_ratio_%d" % r, "  requests/s ratio to none",
                [a["rps"] / b["rps"] for a, b in zip(xs, h["none"]) if not a.get("peer_exited")],
                "%.3f")

    section("7. accuracy: known CPU shares 40/30/20/10 %% (bench/shares.py), %d x %g s; "
            "error = |reported - true share| in points" % (args.accuracy_runs, args.accuracy_seconds))
    for c in acc_configs:
        k = config_key(c)
        add("accuracy_max_error_pp_%s" % k, "worst function's error, %s" % config_name(c),
            [x["max_error_pp"] for x in acc[k]], "%.2f", " pp")
        add("accuracy_mean_error_pp_%s" % k, "  mean over the 4 functions",
            [statistics.mean(x["error_pp"].values()) for x in acc[k]], "%.2f", " pp")

    section("8. capacity: demo server under load, refbpf @ 10 kHz for %.0f s (%s samples; "
            "an hour at 100 Hz is 360000)" % (cap["window_s"], cap["samples"]))
    add("ingest_us_per_sample", "refbpf userspace CPU per sample (read, symbolize, aggregate)",
        [cap["us_per_sample"]], "%.2f", " us")
    add("ingest_samples_per_core_s", "  samples one core ingests per second",
        [cap["ingest_per_core_s"]], "%.0f")
    add("capacity_lost", "samples lost", [cap["lost"]], "%d")
    first, last = cap["rss_kb"][0], cap["rss_kb"][-1]
    add("rss_first_kb", "refbpf RSS after %.0f s" % first[0], [first[1] / 1024], "%.1f", " MiB")
    add("rss_last_kb", "refbpf RSS at the end, %.0f s (%d samples)" % (last[0], cap["samples"]),
        [last[1] / 1024], "%.1f", " MiB")
    add("hwm_kb", "  peak RSS (VmHWM)", [cap["hwm_kb"] / 1024], "%.1f", " MiB")

    res["figures"] = figures
    res["table"] = [list(r) for r in rows]
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)

    width = max(len(r[0]) for r in rows if len(r) > 1)
    vwidth = max(len(r[1]) for r in rows if len(r) > 1)
    print("refbpf benchmark: %s, target %s, %d CPUs, kernel %s, %.0f s"
          % (os.path.relpath(args.refbpf, os.getcwd()), args.python, os.cpu_count(),
             platform.release(), res["elapsed_s"]))
    print("%-*s  %-*s  %s" % (width, "figure", vwidth, "value", "goal"))
    for r in rows:
        if len(r) == 1:
            print("\n" + r[0])
        else:
            print(("%-*s  %-*s  %s" % (width, r[0], vwidth, r[1], r[2])).rstrip())
    if anomalies:
        print("\nrefbpf anomalies:")
        for a in anomalies:
            print("  " + a)
    print("\nJSON: %s" % os.path.relpath(args.json, os.getcwd()))


if __name__ == "__main__":
    main()
