"""refbpf benchmarks: one command, one table, every comparison measured side
by side in the same run (medians of several runs). See bench/README.md.

  sudo /usr/bin/python3 bench/run.py            # ~4 minutes
  sudo /usr/bin/python3 bench/run.py --quick    # ~1 minute

Stdlib only; needs root, ./refbpf (make) and bpftool. Results also go to
bench/results/latest.json.
"""
import argparse
import atexit
import json
import os
import platform
import re
import signal
import socket
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
LOAD = os.path.join(ROOT, "demo", "load.py")
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"
PROG_NAME = "on_cpu_sample"
CLK_TCK = os.sysconf("SC_CLK_TCK")

GOALS = {  # figure key -> (comparison, limit, text)
    "cpu_pct_100": ("<", 0.05, "< 0.05 %"),
    "cpu_pct_1000": ("<", 0.3, "< 0.3 %"),
    "http_cpu_pct_100": ("<", 0.05, "< 0.05 %"),
    "http_cpu_pct_1000": ("<", 0.3, "< 0.3 %"),
    "first_sample_ms": ("<", 300.0, "< 300 ms"),
}


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- processes

CHILDREN = []
CHILDREN_LOCK = threading.Lock()


def spawn(args, **kw):
    """Start a child in its own session (a Ctrl-C on the terminal reaches only
    us; we then kill every child we started, by PID)."""
    p = subprocess.Popen(args, start_new_session=True, **kw)
    with CHILDREN_LOCK:
        CHILDREN.append(p)
    return p


def reap(p):
    with CHILDREN_LOCK:
        if p in CHILDREN:
            CHILDREN.remove(p)


def kill_children():
    with CHILDREN_LOCK:
        procs = list(CHILDREN)
        CHILDREN.clear()
    for p in procs:
        if p.returncode is None and p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass


def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


# ---------------------------------------------------------------- measurements

def task_cpu_ns(pid):
    """CPU time of the live threads of PID in ns (schedstat: ns resolution,
    unlike the 10 ms ticks of /proc/PID/stat). Misses threads that exited,
    so use it for long-lived threads only (refbpf)."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def stat_cpu_s(pid):
    """utime+stime of the whole process from /proc/PID/stat (threads that
    exited included; clock-tick resolution)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def bpftool_progs():
    """{prog id: (name, run_time_ns, run_cnt)} from `bpftool prog show -j`."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        raise BenchError("bpftool prog show -j failed: %s" % out.stderr.strip())
    return {p["id"]: (p.get("name"), p.get("run_time_ns", 0), p.get("run_cnt", 0))
            for p in json.loads(out.stdout or "[]")}


def fd_prog_ids(pid):
    """IDs of the BPF programs whose fds PID holds (/proc/PID/fdinfo)."""
    ids = set()
    try:
        fds = os.listdir("/proc/%d/fdinfo" % pid)
    except OSError:
        return ids
    for fd in fds:
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                text = f.read()
        except OSError:
            continue
        if "prog_type:" in text:
            m = re.search(r"^prog_id:\s*(\d+)", text, re.M)
            if m:
                ids.add(int(m.group(1)))
    return ids


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- refbpf

class Refbpf:
    """One refbpf process: stdout to a temp file, stderr read by a thread that
    notes when the -v lines `attached` and `first sample` appear."""

    def __init__(self, binary, pids, rate, duration=None):
        self.args = [binary, "-p", ",".join(str(p) for p in pids), "-F", str(rate), "-v"]
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

    def bpf_stats(self):
        """(run_time_ns, run_cnt) of this process's on_cpu_sample program(s),
        from bpftool; the process's fds tell which of the loaded programs
        of that name are ours (other refbpf runs may be loaded too)."""
        ours = fd_prog_ids(self.pid)
        progs = bpftool_progs()
        ids = [i for i in ours if progs.get(i, ("",))[0] == PROG_NAME]
        if not ids:
            raise BenchError("no BPF program named %s among refbpf's fds (%s): %s"
                             % (PROG_NAME, sorted(ours), self.describe()))
        return sum(progs[i][1] for i in ids), sum(progs[i][2] for i in ids)

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

def wait_line(stream, pattern, timeout, what):
    result = {}

    def reader():
        for line in stream:
            m = re.search(pattern, line)
            if m:
                result["m"] = m
                return
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    if "m" not in result:
        raise BenchError("%s: did not print %r within %g s" % (what, pattern, timeout))
    return result["m"]


class Workload:
    def __init__(self, python, seconds, depth):
        self.seconds = seconds
        self.p = spawn([python, WORKLOAD, str(seconds), str(depth), "--go"],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.pid = self.p.pid
        wait_line(self.p.stdout, r"READY", 30, "workload")

    def go(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

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


def workload_run(args, rate, seconds, depth, anomalies, label, bare=False):
    """One timed window of the workload, with refbpf at `rate` attached
    (0: none; bare: bare_perf.py's perf events at `rate`, no refbpf).
    refbpf attaches while the workload is idle, then the window runs; CPU
    and BPF counters are read around the window, refbpf still running."""
    wl = Workload(args.python, seconds, depth)
    prof = bare_p = None
    try:
        if bare:
            bare_p = spawn([sys.executable, BARE_PERF, str(rate)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, text=True)
            wait_line(bare_p.stdout, r"READY", 30, "bare_perf.py")
        elif rate:
            prof = Refbpf(args.refbpf, [wl.pid], rate)
            prof.wait_for("attached")
            c0, (b0, n0) = prof.cpu_ns(), prof.bpf_stats()
        w0 = time.monotonic()
        wl.go()
        res = wl.result()
        res["window_s"] = time.monotonic() - w0
        res["rate"] = rate
        res["bare"] = bare
        if rate and not bare:
            (b1, n1), c1 = prof.bpf_stats(), prof.cpu_ns()
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
                "expected_samples": res["cpu_s"] * rate,
                "bpf_ns_per_run": (b1 - b0) / max(1, n1 - n0),
            })
            # The target is idle outside the window, so (nearly) every
            # sample refbpf recorded was taken in it.
            samples = res["samples"] or res["expected_samples"]
            res["bpf_ns_per_sample"] = (b1 - b0) / max(1.0, samples)
            res["samples_vs_expected"] = (res["samples"] or 0) / max(1.0, res["expected_samples"])
        return res
    finally:
        if prof and prof.p.returncode is None:
            prof.p.kill()
        if bare_p:
            bare_p.kill()
            bare_p.wait()
            reap(bare_p)
        wl.close()


def idle_miss_cost(args, rate, seconds):
    """BPF ns per run when the sampled task is not a target: refbpf attached
    to an idle workload, so every run of on_cpu_sample is a miss."""
    wl = Workload(args.python, 1, 10)
    prof = Refbpf(args.refbpf, [wl.pid], rate)
    try:
        prof.wait_for("attached")
        b0, n0 = prof.bpf_stats()
        time.sleep(seconds)
        b1, n1 = prof.bpf_stats()
        prof.stop()
        return {"bpf_ns_per_run": (b1 - b0) / max(1, n1 - n0), "runs": n1 - n0}
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
    p = spawn([args.python, LOAD, str(port), str(seconds), str(args.concurrency)],
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=seconds + 60)
    finally:
        reap(p)
    m = re.search(r"requests: (\d+) \(([\d.]+)/s\)", out)
    if p.returncode != 0 or not m:
        raise BenchError("load.py failed (status %s): %s %s" % (p.returncode, out, err))
    return int(m.group(1)) / seconds


def http_run(args, rate, anomalies, label):
    """The demo server under load.py: a 1 s warm-up load (not measured),
    then a measured load; server and refbpf CPU read around it."""
    port = free_port()
    srv = spawn([args.python, SERVER, str(port)], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, text=True)
    prof = None
    try:
        wait_line(srv.stdout, r"READY", 30, "demo server")
        if rate:
            prof = Refbpf(args.refbpf, [srv.pid], rate)
            prof.wait_for("attached")
        run_load(args, port, args.http_warmup)
        s0 = stat_cpu_s(srv.pid)
        if prof:
            c0, (b0, n0) = prof.cpu_ns(), prof.bpf_stats()
        rps = run_load(args, port, args.http_seconds)
        if prof:
            (b1, n1), c1 = prof.bpf_stats(), prof.cpu_ns()
        s1 = stat_cpu_s(srv.pid)
        res = {"rate": rate, "rps": rps, "server_cpu_s": s1 - s0}
        if prof:
            summary = prof.stop()
            check_profile(prof, summary, "do_GET", anomalies, label, threaded=True)
            res.update(summary)
            proc_s, bpf_s = (c1 - c0) / 1e9, (b1 - b0) / 1e9
            res.update({"refbpf_proc_cpu_s": proc_s, "bpf_cpu_s": bpf_s,
                        "bpf_run_cnt": n1 - n0,
                        "cpu_pct": 100 * (proc_s + bpf_s) / max(1e-9, s1 - s0)})
        return res
    finally:
        if prof and prof.p.returncode is None:
            prof.p.kill()
        srv.kill()
        srv.wait()
        reap(srv)


# ---------------------------------------------------------------- report

def fmt(v, spec, unit=""):
    if v is None:
        return "n/a"
    return (spec % v) + unit


def verdict(key, value):
    if key not in GOALS or value is None:
        return ""
    op, limit, _ = GOALS[key]
    return "ok" if (value < limit if op == "<" else value > limit) else "MISSED"


def progress(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(
        description="refbpf overhead benchmarks (see bench/README.md)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--python", default="/usr/bin/python3", help="target interpreter")
    ap.add_argument("--refbpf", default=os.path.join(ROOT, "refbpf"), help="refbpf binary")
    ap.add_argument("--quick", action="store_true",
                    help="fewer, shorter runs (~1 minute); overrides the sizes below")
    ap.add_argument("--runs", type=int, default=5,
                    help="interleaved rounds of the workload (none, 100 Hz, 1 kHz, 10 kHz)")
    ap.add_argument("--seconds", type=float, default=4.0, help="workload window per run")
    ap.add_argument("--rates", default="100,1000,10000", help="refbpf rates for the workload")
    ap.add_argument("--bare-rates", default="10000",
                    help="rates of the platform baseline (bare perf events, no refbpf)")
    ap.add_argument("--stack", type=int, default=20, help="workload stack depth (frames)")
    ap.add_argument("--depths", default="10,100,1000", help="stack depths for BPF ns/sample")
    ap.add_argument("--depth-runs", type=int, default=3)
    ap.add_argument("--depth-seconds", type=float, default=3.0)
    ap.add_argument("--depth-rate", type=int, default=1000)
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--startup-duration", type=float, default=1.0, help="refbpf -d for start-up runs")
    ap.add_argument("--http-runs", type=int, default=3,
                    help="interleaved rounds of the server (none, 100 Hz, 1 kHz)")
    ap.add_argument("--http-seconds", type=float, default=8.0, help="measured load per run")
    ap.add_argument("--http-warmup", type=float, default=1.0, help="unmeasured load per run")
    ap.add_argument("--concurrency", type=int, default=4, help="load.py client threads")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "latest.json"))
    args = ap.parse_args()
    if args.quick:
        args.runs, args.seconds = 2, 2.5
        args.depth_runs, args.depth_seconds = 1, 2.0
        args.startup_runs, args.startup_duration = 3, 0.5
        args.http_runs, args.http_seconds, args.http_warmup = 1, 3.0, 0.5
    rates = [int(r) for r in args.rates.split(",") if r]
    bare_rates = [int(r) for r in args.bare_rates.split(",") if r]
    depths = [int(d) for d in args.depths.split(",") if d]

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
        # 1 + 4: interleaved workload runs, none and each rate per round.
        configs = [0] + rates + ["bare%d" % r for r in bare_rates]
        wl_runs = {r: [] for r in configs}
        for i in range(args.runs):
            for r in configs:
                bare = isinstance(r, str)
                rate = int(r[4:]) if bare else r
                progress("[%3.0fs] workload round %d/%d, %s"
                         % (time.monotonic() - t_start, i + 1, args.runs,
                            ("bare perf events @ %s" if bare else "refbpf @ %s") % hz(rate)
                            if rate else "no profiler"))
                wl_runs[r].append(workload_run(args, rate, args.seconds, args.stack, anomalies,
                                               "workload @ %s Hz run %d" % (r, i + 1), bare))
        res["workload"] = {str(r): v for r, v in wl_runs.items()}

        # 3: BPF time per sample at several depths, and the cost of a miss.
        progress("[%3.0fs] BPF cost of a non-target run" % (time.monotonic() - t_start))
        miss = idle_miss_cost(args, args.depth_rate, max(1.0, args.depth_seconds / 2))
        res["bpf_miss"] = miss
        depth_runs = {d: [] for d in depths}
        for i in range(args.depth_runs):
            for d in depths:
                progress("[%3.0fs] depth %d run %d/%d"
                         % (time.monotonic() - t_start, d, i + 1, args.depth_runs))
                r = workload_run(args, args.depth_rate, args.depth_seconds, d, anomalies,
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
        steady_100 = med(x["refbpf_proc_cpu_per_s"] for x in wl_runs.get(100, []))
        for x in su:
            x["startup_cpu_ms"] = (x["exit_cpu_ms"] - steady_100 * 1e3 * x["duration_s"]
                                   if steady_100 is not None else None)
        res["startup"] = su

        # 5: the demo HTTP server, interleaved rounds.
        http = {r: [] for r in (0, 100, 1000)}
        for i in range(args.http_runs):
            for r in http:
                progress("[%3.0fs] HTTP round %d/%d, %s"
                         % (time.monotonic() - t_start, i + 1, args.http_runs,
                            "%d Hz" % r if r else "no profiler"))
                http[r].append(http_run(args, r, anomalies, "HTTP @ %s Hz run %d" % (r, i + 1)))
        res["http"] = {str(r): v for r, v in http.items()}
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
        xs = wl_runs[r]
        add("cpu_pct_%d" % r, "refbpf CPU / target CPU @ %s" % hz(r),
            [x["cpu_pct"] for x in xs], "%.3f", " %")
        add("proc_cpu_pct_%d" % r, "  refbpf process (utime+stime)",
            [x["refbpf_proc_cpu_pct"] for x in xs], "%.3f", " %")
        add("bpf_cpu_pct_%d" % r, "  BPF program (run_time_ns)",
            [x["bpf_cpu_pct"] for x in xs], "%.3f", " %")
    for r in rates:
        add("bpf_ns_per_sample_%d" % r, "BPF ns per sample @ %s" % hz(r),
            [x["bpf_ns_per_sample"] for x in wl_runs[r]], "%.0f", " ns")
        add("bpf_ns_per_run_%d" % r, "  per run (both CPUs, non-target runs incl.)",
            [x["bpf_ns_per_run"] for x in wl_runs[r]], "%.0f", " ns")
    for r in rates:
        add("samples_vs_expected_%d" % r, "samples / (target CPU s x rate) @ %s" % hz(r),
            [x["samples_vs_expected"] for x in wl_runs[r]], "%.3f")

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
    add("iter_per_s_none", "iterations/s, no profiler", [x["iter_per_s"] for x in wl_runs[0]], "%.0f")
    for r in rates:
        add("iter_per_s_%d" % r, "iterations/s, refbpf @ %s" % hz(r),
            [x["iter_per_s"] for x in wl_runs[r]], "%.0f")
        add("throughput_ratio_%d" % r, "  ratio to none",
            [x["iter_per_s"] / b["iter_per_s"] for x, b in zip(wl_runs[r], wl_runs[0])], "%.3f")
    for r in bare_rates:
        k = "bare%d" % r
        add("iter_per_s_bare_%d" % r, "iterations/s, bare perf events @ %s, no refbpf" % hz(r),
            [x["iter_per_s"] for x in wl_runs[k]], "%.0f")
        add("throughput_ratio_bare_%d" % r, "  ratio to none (platform timer cost)",
            [x["iter_per_s"] / b["iter_per_s"] for x, b in zip(wl_runs[k], wl_runs[0])], "%.3f")

    section("5. demo HTTP server under load.py (%d clients), %d x %g s per config"
            % (args.concurrency, args.http_runs, args.http_seconds))
    add("http_rps_none", "requests/s, no profiler", [x["rps"] for x in http[0]], "%.0f")
    for r in (100, 1000):
        add("http_rps_%d" % r, "requests/s, refbpf @ %s" % hz(r), [x["rps"] for x in http[r]], "%.0f")
        add("http_ratio_%d" % r, "  ratio to none",
            [x["rps"] / b["rps"] for x, b in zip(http[r], http[0])], "%.3f")
    for r in (100, 1000):
        add("http_not_unwound_pct_%d" % r, "samples not unwound @ %s (thread start/exit)" % hz(r),
            [100.0 * x["not_unwound"] / x["samples"] for x in http[r]
             if x.get("samples") and x.get("not_unwound") is not None], "%.1f", " %")
    for r in (100, 1000):
        add("http_cpu_pct_%d" % r, "refbpf CPU / server CPU @ %s" % hz(r),
            [x["cpu_pct"] for x in http[r]], "%.3f", " %")
        add("http_bpf_ns_per_sample_%d" % r, "  BPF ns per sample (server CPU s x rate samples)",
            [x["bpf_cpu_s"] * 1e9 / max(1.0, x["server_cpu_s"] * r) for x in http[r]], "%.0f", " ns")

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


def hz(r):
    return "%g kHz" % (r / 1000) if r >= 1000 else "%d Hz" % r


if __name__ == "__main__":
    main()
