"""refbpf overhead benchmarks: one command, a table of figures and ratios,
every ratio measured side by side in the same run (medians of --runs).

  sudo /usr/bin/python3 bench/overhead.py [--quick] [--runs N] [--python PATH]

Figures (see bench/README.md for how each is measured):
  steady-state CPU   refbpf's own CPU after attach (process utime+stime plus
                     BPF run time from kernel.bpf_stats_enabled) as a share
                     of the target's CPU time, at 100 Hz, 1 kHz, 10 kHz
  BPF ns per sample  BPF run time per recorded sample, at stack depths
                     10, 100, 1000
  start-up           launch -> first sample (ms), and refbpf's CPU for it
  throughput         workload iterations/s and HTTP requests/s with refbpf
                     at 100 Hz and 1 kHz vs none (and vs cProfile)
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFBPF = os.path.join(ROOT, "refbpf")
WORKLOAD = os.path.join(ROOT, "bench", "workload.py")
SERVER = os.path.join(ROOT, "demo", "server.py")
LOAD = os.path.join(ROOT, "demo", "load.py")
RESULTS = os.path.join(ROOT, "bench", "results")

children = []


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    children.append(p)
    return p


def cleanup():
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()


def cpu_seconds(pid):
    """CPU time of a process (all its threads), in seconds, with nanosecond
    resolution: /proc/PID/task/*/schedstat, not the 10 ms ticks of stat."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def bpf_prog_stats():
    """(run_time_ns, run_cnt) of refbpf's sampler, summed over loaded copies."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    ns = cnt = 0
    for prog in json.loads(out.stdout or "[]"):
        if prog.get("name") == "on_cpu_sample":
            ns += prog.get("run_time_ns", 0)
            cnt += prog.get("run_cnt", 0)
    return ns, cnt


def wait_line(stream, pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            return m
    raise RuntimeError("did not see %r" % pattern)


def start_workload(python, seconds, depth=20):
    p = spawn([python, WORKLOAD, str(seconds), str(depth)], stdout=subprocess.PIPE, text=True)
    wait_line(p.stdout, "READY", 20)
    return p


def workload_rate(p, seconds):
    out, _ = p.communicate(timeout=seconds + 30)
    return int(re.search(r"ITERATIONS (\d+)", out).group(1)) / seconds


def start_refbpf(pid, rate, extra=()):
    p = spawn([REFBPF, "-p", str(pid), "-F", str(rate), "-v"] + list(extra),
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_line(p.stderr, r"attached ([\d.]+) ms", 30)
    return p


def stop_refbpf(p):
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    m = re.search(r"; (\d+) samples", out)
    return int(m.group(1)) if m else 0


def steady_state(python, rate, window):
    """refbpf CPU (process + BPF) as a share of the target's CPU."""
    target = start_workload(python, window + 6)
    prof = start_refbpf(target.pid, rate)
    time.sleep(1.0)  # past start-up: symbolization of new code objects done
    c0, t0, (b0, n0) = cpu_seconds(prof.pid), cpu_seconds(target.pid), bpf_prog_stats()
    time.sleep(window)
    c1, t1, (b1, n1) = cpu_seconds(prof.pid), cpu_seconds(target.pid), bpf_prog_stats()
    samples = stop_refbpf(prof)
    target.kill()
    target.wait()
    user = c1 - c0
    bpf = (b1 - b0) / 1e9
    return {
        "rate": rate, "target_cpu_s": t1 - t0, "refbpf_user_cpu_s": user, "bpf_cpu_s": bpf,
        "share_pct": 100.0 * (user + bpf) / (t1 - t0),
        "bpf_runs": n1 - n0, "bpf_ns_per_run": (b1 - b0) / max(1, n1 - n0),
        "samples": samples,
    }


def bpf_per_sample(python, depth, rate, window):
    target = start_workload(python, window + 6, depth)
    prof = start_refbpf(target.pid, rate)
    time.sleep(0.5)
    b0, _ = bpf_prog_stats()
    s0 = time.monotonic()
    time.sleep(window)
    b1, _ = bpf_prog_stats()
    elapsed = time.monotonic() - s0
    samples = stop_refbpf(prof)
    target.kill()
    target.wait()
    # samples counts the whole recording; scale to the measured window
    in_window = samples * elapsed / (elapsed + 0.5)
    return (b1 - b0) / max(1.0, in_window)


def startup(python):
    target = start_workload(python, 20)
    t0 = time.monotonic()
    p = spawn([REFBPF, "-p", str(target.pid), "-d", "0.5", "-v"],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read()
    target.kill()
    target.wait()
    m = re.search(r"first sample ([\d.]+) ms", err)
    a = re.search(r"attached ([\d.]+) ms", err)
    return {"first_sample_ms": float(m.group(1)) if m else float("nan"),
            "attached_ms": float(a.group(1)) if a else float("nan"),
            "cpu_ms_total": (usage.ru_utime + usage.ru_stime) * 1e3, "wall_s": wall}


def throughput(python, config, seconds):
    if config == "cProfile":
        p = spawn([python, "-m", "cProfile", "-o", os.devnull, WORKLOAD, str(seconds)],
                  stdout=subprocess.PIPE, text=True)
        wait_line(p.stdout, "READY", 20)
        return workload_rate(p, seconds)
    target = start_workload(python, seconds)
    prof = start_refbpf(target.pid, config) if config else None
    rate = workload_rate(target, seconds)
    if prof:
        stop_refbpf(prof)
    return rate


def http(python, rate, seconds, port):
    server = spawn([python, SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    wait_line(server.stdout, "READY", 20)
    prof = start_refbpf(server.pid, rate) if rate else None
    c0 = cpu_seconds(prof.pid) if prof else 0
    s0 = cpu_seconds(server.pid)
    (b0, _) = bpf_prog_stats()
    load = subprocess.run([python, LOAD, str(port), str(seconds), "4"], capture_output=True,
                          text=True, timeout=seconds + 60)
    (b1, _) = bpf_prog_stats()
    s1 = cpu_seconds(server.pid)
    c1 = cpu_seconds(prof.pid) if prof else 0
    if prof:
        stop_refbpf(prof)
    server.kill()
    server.wait()
    rps = float(re.search(r"\(([\d.]+)/s\)", load.stdout).group(1))
    share = 100.0 * ((c1 - c0) + (b1 - b0) / 1e9) / (s1 - s0) if rate else 0.0
    return rps, share


def med(values):
    return statistics.median(values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one run each, short windows")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (BPF)")
    if not os.access(REFBPF, os.X_OK):
        sys.exit("bench: %s is not built: run make" % REFBPF)
    runs = 1 if args.quick else args.runs
    window = 4 if args.quick else 8
    old_stats = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1")
    results = {"python": args.python, "runs": runs, "window_s": window}
    try:
        rows = []
        for rate in (100, 1000, 10000):
            r = [steady_state(args.python, rate, window) for _ in range(runs)]
            results["steady_%d" % rate] = r
            rows.append(("refbpf CPU / target CPU @ %d Hz" % rate,
                         "%.4f %%" % med(x["share_pct"] for x in r),
                         {100: "< 0.05 %", 1000: "< 0.3 %"}.get(rate, "")))
            rows.append(("  of which BPF @ %d Hz" % rate,
                         "%.4f %%" % med(100 * x["bpf_cpu_s"] / x["target_cpu_s"] for x in r), ""))
        for depth in (10, 100, 1000):
            v = [bpf_per_sample(args.python, depth, 1000, window / 2) for _ in range(runs)]
            results["bpf_ns_per_sample_depth_%d" % depth] = v
            rows.append(("BPF time per sample, depth %d" % depth, "%.0f ns" % med(v), ""))
        s = [startup(args.python) for _ in range(max(3, runs))]
        results["startup"] = s
        rows.append(("start-up: launch -> first sample", "%.0f ms" % med(x["first_sample_ms"] for x in s),
                     "< 300 ms"))
        rows.append(("start-up: launch -> attached", "%.0f ms" % med(x["attached_ms"] for x in s), ""))
        rows.append(("start-up + 0.5 s recording: refbpf CPU", "%.0f ms" % med(x["cpu_ms_total"] for x in s), ""))
        configs = [None, 100, 1000, "cProfile"]
        tp = {str(c): [] for c in configs}
        for _ in range(runs):
            for c in configs:  # interleaved: drift hits every config alike
                tp[str(c)].append(throughput(args.python, c, window))
        results["throughput"] = tp
        base = med(tp["None"])
        rows.append(("workload iterations/s, no profiler", "%.0f" % base, ""))
        for c in configs[1:]:
            label = "cProfile" if c == "cProfile" else "refbpf @ %d Hz" % c
            rows.append(("  with %s (ratio to none)" % label, "%.3f" % (med(tp[str(c)]) / base), ""))
        port = 18765
        web = {"none": [], "100": [], "1000": []}
        share = {"100": [], "1000": []}
        for _ in range(runs):
            for rate, key in ((0, "none"), (100, "100"), (1000, "1000")):
                rps, sh = http(args.python, rate, window, port)
                web[key].append(rps)
                if rate:
                    share[key].append(sh)
        results["http"] = {"rps": web, "share_pct": share}
        rows.append(("HTTP demo server req/s, no profiler", "%.0f" % med(web["none"]), ""))
        for key in ("100", "1000"):
            rows.append(("  with refbpf @ %s Hz (ratio to none)" % key,
                         "%.3f" % (med(web[key]) / med(web["none"])), ""))
            rows.append(("  refbpf CPU / server CPU @ %s Hz" % key, "%.4f %%" % med(share[key]), ""))
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(old_stats)
        cleanup()
    width = max(len(r[0]) for r in rows)
    print("refbpf benchmark: %s, %d run(s) per figure (medians), %g s windows, %d CPUs"
          % (args.python, runs, window, os.cpu_count()))
    print("%-*s  %14s  %s" % (width, "figure", "value", "goal"))
    for name, value, goal in rows:
        print("%-*s  %14s  %s" % (width, name, value, goal))
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        cleanup()
        sys.exit(130)
