"""A/B test of refbpf builds: BPF and process CPU per sample on the bench
workload, builds and rates interleaved round by round (drift hits all
alike), medians over rounds. For judging a change to the BPF program, where
the full bench is too slow and its single build cannot compare.

    sudo /usr/bin/python3 bench/ab.py --rounds 3 --seconds 3 \\
        --rates 1000,100 --depths 20 ./refbpf /tmp/other/refbpf

Per (rate, depth, build): BPF ns per sample (run time of the program over
the window / (target CPU s x rate), so builds that drop samples are not
flattered), BPF ns per run (both CPUs), refbpf's process CPU per sample,
and refbpf's CPU as a share of the target's, as bench/run.py's figure 1.

--servers single,threaded runs the demo server under wrk instead, as
bench/run.py's HTTP figure (--http-warmup seconds of load first, then
--http-seconds measured): per (rate, server, build) the BPF and process
CPU of the window and refbpf's CPU as a share of the server's.

--warm-server single|threaded starts one demo server under a load that
runs through the whole A/B (warmed by --http-warmup first) and attaches
each build in turn: --attach-warmup seconds after its `attached` line,
then a --http-seconds window. Every run sees the same warm server, and
one costs seconds instead of a server's start and warm-up; the figures
are the window's BPF run time and process CPU as a share of the server's
(samples waiting for refbpf's next wake-up at either end balance out in
the steady state). For comparing builds made for an experiment, such as
ones that skip a part of the sample to learn what it costs.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: Refbpf, Workload, BPF_STATS)
from common import (BenchError, kill_children, on_signal, reap, spawn,  # noqa: E402
                    stat_cpu_s)


def one_window(binary, python, rate, depth, seconds, warmup, anomalies):
    """bench/run.py's figure-1 window, run with this build."""
    build = argparse.Namespace(refbpf=binary, python=python, warmup=warmup)
    res = run.workload_run(build, ("refbpf", rate), seconds, depth, anomalies, binary)
    samples = res["cpu_s"] * rate
    return (res["bpf_cpu_s"] * 1e9 / samples, res["bpf_ns_per_run"],
            res["refbpf_proc_cpu_s"] * 1e9 / samples, res["cpu_pct"])


def one_server_window(args, binary, rate, mode, anomalies):
    """bench/run.py's HTTP window, run with this build."""
    build = argparse.Namespace(**vars(args), refbpf=binary)
    res = run.http_run(build, ("refbpf", rate), anomalies, binary, mode)
    return (res["bpf_cpu_s"] * 1e3, res["refbpf_proc_cpu_s"] * 1e3, res["cpu_pct"])


def warm_server_ab(args, rates):
    """--warm-server: {(rate, mode, build): [(BPF ms, process ms, share %)]}
    over the rounds, and the anomalies."""
    mode = args.warm_server
    srv, port = run.start_demo_server(args.python, mode, stderr=subprocess.DEVNULL)
    load = None

    def measure(case, anomalies):
        rate, _, binary = case
        prof = run.Refbpf(binary, [srv.pid], rate)
        try:
            prof.wait_for("attached")
            time.sleep(args.attach_warmup)
            s0, c0, (b0, _, _) = stat_cpu_s(srv.pid), prof.cpu_ns(), prof.bpf_stats()
            time.sleep(args.http_seconds)
            s1, c1, (b1, _, _) = stat_cpu_s(srv.pid), prof.cpu_ns(), prof.bpf_stats()
            prof.stop()
        finally:
            if prof.p.returncode is None:
                prof.p.kill()
        if load.poll() is not None:
            raise BenchError("wrk exited (status %s) during a window" % load.returncode)
        return ((b1 - b0) / 1e6, (c1 - c0) / 1e6, 100 * (b1 - b0 + c1 - c0) / 1e9 / max(1e-9, s1 - s0))

    try:
        load = spawn([args.wrk, "-t", "1", "-c", str(args.concurrency), "-d", "24h",
                      "-s", run.WRK_SCRIPT, "http://127.0.0.1:%d/" % port],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(args.http_warmup)
        if load.poll() is not None:
            sys.exit("bench/ab.py: wrk exited (status %s) during the warm-up" % load.returncode)
        cases = [(rate, mode, b) for rate in rates for b in args.builds]
        return interleaved(args.rounds, cases, measure)
    finally:
        for p in (load, srv):
            if p:
                p.kill()
                p.wait()
                reap(p)


def interleaved(rounds, cases, measure):
    """measure(case, anomalies) for every case (rate, what, build) in each
    round, with BPF run-time statistics on: {case: [result per round]} and
    the anomalies seen."""
    if os.geteuid() != 0:
        sys.exit("bench/ab.py: run as root (it reads BPF run-time statistics)")
    signal.signal(signal.SIGTERM, on_signal)
    with open(run.BPF_STATS) as f:
        old = f.read().strip()
    results, anomalies = {}, []
    try:
        with open(run.BPF_STATS, "w") as f:
            f.write("1")
        for r in range(rounds):
            for case in cases:
                rate, what, build = case
                what = "%d frames" % what if isinstance(what, int) else "%s server" % what
                print("round %d/%d, %s, %s, %s" % (r + 1, rounds, run.hz(rate), what, build),
                      file=sys.stderr)
                results.setdefault(case, []).append(measure(case, anomalies))
    finally:
        with open(run.BPF_STATS, "w") as f:
            f.write(old)
        kill_children()
    return results, anomalies


def print_medians(results, anomalies, head, row):
    print(head)
    for case, runs in sorted(results.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])):
        m = [statistics.median(x[i] for x in runs) for i in range(len(runs[0]))]
        print(row % (run.hz(case[0]), case[1], case[2], *m))
    for a in anomalies:
        print("anomaly: %s" % a)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="+", help="refbpf binaries to compare")
    ap.add_argument("--python", default="/usr/bin/python3", help="target interpreter")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="workload window per run")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="workload seconds before each window (its functions first seen)")
    ap.add_argument("--rates", default="1000,100")
    ap.add_argument("--depths", default="20", help="workload stack depths (at least 8)")
    ap.add_argument("--servers", help="demo server modes to load instead of the workload: "
                    "single, threaded or both, comma-separated")
    ap.add_argument("--http-warmup", type=float, default=10.0,
                    help="seconds of load before each server window")
    ap.add_argument("--http-seconds", type=float, default=6.0, help="measured load per run")
    ap.add_argument("--concurrency", type=int, default=4, help="open connections of the load")
    ap.add_argument("--warm-server", choices=("single", "threaded"),
                    help="one demo server, loaded throughout; each build attached in turn")
    ap.add_argument("--attach-warmup", type=float, default=8.0,
                    help="--warm-server: seconds from a build's attach to its window")
    args = ap.parse_args()
    if len(set(args.builds)) != len(args.builds):
        sys.exit("bench/ab.py: each build once (copy a binary to compare it with itself)")
    rates = [int(r) for r in args.rates.split(",")]
    if args.servers or args.warm_server:
        args.wrk = shutil.which("wrk")
        if not args.wrk:
            sys.exit("bench/ab.py: server runs need wrk (apt-get install wrk)")
        if args.warm_server:
            results, anomalies = warm_server_ab(args, rates)
        else:
            modes = args.servers.split(",")
            cases = [(rate, m, b) for rate in rates for m in modes for b in args.builds]
            results, anomalies = interleaved(
                args.rounds, cases,
                lambda c, anomalies: one_server_window(args, c[2], c[0], c[1], anomalies))
        print_medians(results, anomalies,
                      "%-8s %-9s %-32s %12s %13s %12s" % ("rate", "server", "build", "BPF ms",
                                                          "process ms", "CPU/server"),
                      "%-8s %-9s %-32s %12.2f %13.2f %11.3f%%")
        return
    depths = [int(d) for d in args.depths.split(",")]
    cases = [(rate, d, b) for rate in rates for d in depths for b in args.builds]
    results, anomalies = interleaved(
        args.rounds, cases,
        lambda c, anomalies: one_window(c[2], args.python, c[0], c[1], args.seconds,
                                        args.warmup, anomalies))
    print_medians(results, anomalies,
                  "%-8s %6s  %-32s %14s %12s %14s %12s" % ("rate", "frames", "build",
                                                           "BPF ns/sample", "BPF ns/run",
                                                           "proc ns/sample", "CPU/target"),
                  "%-8s %6d  %-32s %14.0f %12.0f %14.0f %11.3f%%")


if __name__ == "__main__":
    main()
