"""What refbpf costs per unit of work the host does (issue #25's table):
each row is a cost per event, measured beside a run without refbpf (or
without the event) in the same invocation, rounds interleaved so that drift
hits both alike; medians over rounds, [min-max] beside them.

    make && sudo /usr/bin/python3 bench/unit_costs.py            # ~2 minutes
    sudo /usr/bin/python3 bench/unit_costs.py --rows switch --rounds 5
    sudo /usr/bin/python3 bench/unit_costs.py --refbpf /tmp/old/refbpf   # another build

Rows:
  switch  BPF time per context switch of threads that are not targets, in
          wall mode: two processes pinned to one CPU pass a byte back and
          forth through pipes (a switch each way) while refbpf records an
          idle target with --mode wall. The figure is the run time of
          refbpf's sched_switch program over its run count
          (kernel.bpf_stats_enabled); beside it, the ping-pong's round trips
          per second without refbpf and with it.
  exec    refbpf's own CPU per exec of a program that is not Python, under
          --all: bash runs /bin/true in a loop for a window, and refbpf's
          CPU over it, less its CPU over an equal window without the loop,
          is divided by the execs; beside it, the BPF time of refbpf's
          programs per exec (fork, exec and exit run in the exec'ing tasks).
  sample  BPF time per sample of a stack of 1,000 distinct Python
          functions (bench/workload.py with DEPTH 1000) at 100 Hz: the
          sampler's run time over its run count.
  watched refbpf's CPU per Python process watched under --all, in steady
          state: 60 idle processes of 10 threads each, started before
          refbpf; its CPU over a window, less its CPU over an equal window
          of an --all run without them, per process and second.
  thread  refbpf's CPU per thread created and ended by a thread-per-
          request target (a thread started and joined per "request",
          recorded with -p at 100 Hz), less its CPU recording the same
          target spinning without threads, per thread.
  code    the same per new code object: the target compiles and calls a
          new function per iteration (the code objects come and go, as
          in a templating engine), less the spinning target, per code
          object made.
  rss     refbpf's resident memory while it records the demo server
          (thread per request) under a bounded loopback load at 100 Hz for
          --rss-seconds: VmRSS at the end, and its growth over the second
          half of the window, per hour (a line fitted through readings
          every second; the first half holds the start-up, when every
          function of the server is new). One round: it is a footprint,
          not a time.

Stdlib only; root; ./refbpf (make) and bpftool. Writes the figures to
bench/results/unit_costs.json (git-ignored) and prints the table.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: Refbpf, Workload, BPF_STATS)
from common import (BenchError, kill_children, med, on_signal, progress,  # noqa: E402
                    prog_stats, reap, spawn, wait_line)

ROWS = ("switch", "exec", "sample", "watched", "thread", "code", "rss")
# The programs that run in the task that forks, execs or exits
LIFETIME = {"on_process_fork", "on_process_exec", "on_process_exit"}
GOALS = {"switch_bpf_ns": 50.0, "exec_cpu_us": 5.0, "sample_bpf_us": 30.0, "rss_mib": 16.0}

# Two processes on CPU 0 passing one byte through two pipes: each pass is
# a switch. Prints round trips per second when the window is over.
PING_PONG = r"""
import os, sys, time
seconds = float(sys.argv[1])
os.sched_setaffinity(0, {0})
a_r, a_w = os.pipe()
b_r, b_w = os.pipe()
if os.fork() == 0:
    os.close(a_w)
    os.close(b_r)
    while os.read(a_r, 1):
        os.write(b_w, b"x")
    os._exit(0)
os.close(a_r)
os.close(b_w)
n, end = 0, time.monotonic() + seconds
t0 = time.monotonic()
while time.monotonic() < end:
    for _ in range(100):
        os.write(a_w, b"x")
        os.read(b_r, 1)
    n += 100
elapsed = time.monotonic() - t0
os.close(a_w)
os.wait()
print("ROUNDTRIPS %d %.3f" % (n, elapsed), flush=True)
"""

# Execs of /bin/true for a window; bash counts them without an exec of its own.
EXEC_LOOP = 'end=$((SECONDS+%d)); n=0; while ((SECONDS<end)); do /bin/true; n=$((n+1)); done; echo "EXECS $n"'

IDLE_TARGET = "import sys, time; print('READY', flush=True); time.sleep(3600)"

# Ten threads asleep, as a pool of an idle server's workers.
IDLE_POOL = r"""
import threading, time
for _ in range(9):
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
print("READY", flush=True)
time.sleep(3600)
"""

# Busy for a window in one of three ways, waiting for a line on stdin first
# (refbpf attaches meanwhile); prints how many events it made.
#   spin    a loop, no event (the baseline)
#   thread  a thread started and joined per iteration
#   code    a new function compiled and called per iteration
BUSY = r"""
import sys, threading, time
mode, seconds = sys.argv[1], float(sys.argv[2])
print("READY", flush=True)
sys.stdin.readline()

def work():
    x = 0
    for i in range(2000):
        x += i
    return x

n, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    if mode == "thread":
        t = threading.Thread(target=work)
        t.start()
        t.join()
    elif mode == "code":
        ns = {}
        src = "def f_%d():\n    x = 0\n    for i in range(2000):\n        x += i\n" % n
        exec(compile(src, "<made>", "exec"), ns)
        ns["f_%d" % n]()
    else:
        work()
    n += 1
print("EVENTS %d" % n, flush=True)
"""


def ping_pong(python, seconds):
    p = subprocess.run([python, "-c", PING_PONG, str(seconds)], capture_output=True, text=True,
                       timeout=seconds + 60)
    fields = p.stdout.split()
    if p.returncode != 0 or len(fields) != 3:
        raise BenchError("ping-pong failed: %s" % (p.stderr.strip() or p.stdout))
    return int(fields[1]) / float(fields[2])


def start_idle_target(python):
    t = spawn([python, "-c", IDLE_TARGET], stdout=subprocess.PIPE, text=True)
    wait_line(t.stdout, r"READY", 30, "idle target")
    return t


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    reap(p)


def row_switch(args):
    target = start_idle_target(args.python)
    per_switch, with_rate, without_rate = [], [], []
    try:
        for i in range(args.rounds):
            without_rate.append(ping_pong(args.python, args.seconds))
            r = run.Refbpf(args.refbpf, [target.pid], 100, extra=["--mode", "wall"])
            try:
                r.wait_for("attached")
                t0, n0 = prog_stats(r.pid, {"on_sched_switch"})
                with_rate.append(ping_pong(args.python, args.seconds))
                t1, n1 = prog_stats(r.pid, {"on_sched_switch"})
            finally:
                stop(r.p)
            per_switch.append((t1 - t0) / max(1, n1 - n0))
            progress("switch round %d: %.1f ns per switch, %d switches; round trips/s %.0f "
                     "without, %.0f with" % (i + 1, per_switch[-1], n1 - n0, without_rate[-1],
                                             with_rate[-1]))
    finally:
        target.kill()
        target.wait()
        reap(target)
    return {"switch_bpf_ns": per_switch, "switch_roundtrips_without": without_rate,
            "switch_roundtrips_with": with_rate}


def exec_window(seconds):
    p = subprocess.run(["bash", "-c", EXEC_LOOP % seconds], capture_output=True, text=True,
                       timeout=seconds + 60)
    fields = p.stdout.split()
    if p.returncode != 0 or len(fields) != 2:
        raise BenchError("exec loop failed: %s" % (p.stderr.strip() or p.stdout))
    return int(fields[1])


def row_exec(args):
    per_exec, bpf_per_exec, rates = [], [], []
    r = run.Refbpf(args.refbpf, None, 100)
    try:
        r.wait_for("attached")
        time.sleep(1)  # the start-up scan of every process is over
        for i in range(args.rounds):
            # an equal window without execs: refbpf's own cost of the host
            c0, (b0, _) = r.cpu_ns(), prog_stats(r.pid, LIFETIME)
            t0 = time.monotonic()
            time.sleep(args.seconds)
            idle_s = time.monotonic() - t0
            c1, (b1, _) = r.cpu_ns(), prog_stats(r.pid, LIFETIME)
            t1 = time.monotonic()
            execs = exec_window(args.seconds)
            loop_s = time.monotonic() - t1
            c2, (b2, _) = r.cpu_ns(), prog_stats(r.pid, LIFETIME)
            idle_rate, idle_bpf = (c1 - c0) / idle_s, (b1 - b0) / idle_s
            per_exec.append(((c2 - c1) - idle_rate * loop_s) / execs / 1e3)
            bpf_per_exec.append(((b2 - b1) - idle_bpf * loop_s) / execs / 1e3)
            rates.append(execs / loop_s)
            progress("exec round %d: %.1f us of refbpf's CPU and %.2f us of BPF per exec, "
                     "%.0f execs/s" % (i + 1, per_exec[-1], bpf_per_exec[-1], rates[-1]))
    finally:
        stop(r.p)
    return {"exec_cpu_us": per_exec, "exec_bpf_us": bpf_per_exec, "execs_per_s": rates}


def row_sample(args):
    per_sample, depth = [], 1000
    for i in range(args.rounds):
        w = run.Workload(args.python, args.seconds, depth, warmup=1.0)
        try:
            r = run.Refbpf(args.refbpf, [w.pid], 100)
            try:
                r.wait_for("attached")
                w.go()
                t0, n0 = prog_stats(r.pid, {"on_cpu_sample"})
                w.result()
                t1, n1 = prog_stats(r.pid, {"on_cpu_sample"})
            finally:
                stop(r.p)
        finally:
            w.close()
        per_sample.append((t1 - t0) / max(1, n1 - n0) / 1e3)
        progress("sample round %d: %.1f us per sample (%d samples)"
                 % (i + 1, per_sample[-1], n1 - n0))
    return {"sample_bpf_us": per_sample}


def row_watched(args):
    per_proc = []
    procs = []
    try:
        for i in range(args.rounds):
            r = run.Refbpf(args.refbpf, None, 100)
            try:
                r.wait_for("attached")
                time.sleep(1)
                c0 = r.cpu_ns()
                time.sleep(args.seconds)
                alone = r.cpu_ns() - c0
            finally:
                stop(r.p)
            procs = [spawn([args.python, "-c", IDLE_POOL], stdout=subprocess.PIPE, text=True)
                     for _ in range(60)]
            for p in procs:
                wait_line(p.stdout, r"READY", 30, "idle pool")
            r = run.Refbpf(args.refbpf, None, 100)
            try:
                r.wait_for("attached")
                time.sleep(1)  # the start-up scan has found them all
                c0 = r.cpu_ns()
                time.sleep(args.seconds)
                watching = r.cpu_ns() - c0
            finally:
                stop(r.p)
                for p in procs:
                    p.kill()
                    p.wait()
                    reap(p)
                procs = []
            per_proc.append((watching - alone) / 1e3 / 60 / args.seconds)
            progress("watched round %d: %.2f us of refbpf's CPU per process per second "
                     "(%.1f ms alone, %.1f ms with 60 processes)"
                     % (i + 1, per_proc[-1], alone / 1e6, watching / 1e6))
    finally:
        for p in procs:
            p.kill()
            p.wait()
            reap(p)
    return {"watched_us_per_s": per_proc}


def busy_window(args, mode):
    """refbpf's CPU recording BUSY in `mode` for a window, and the events."""
    t = spawn([args.python, "-c", BUSY, mode, str(args.seconds)], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, text=True)
    try:
        wait_line(t.stdout, r"READY", 30, "busy target")
        r = run.Refbpf(args.refbpf, [t.pid], 100)
        try:
            r.wait_for("attached")
            c0 = r.cpu_ns()
            t.stdin.write("go\n")
            t.stdin.flush()
            events = int(wait_line(t.stdout, r"EVENTS (\d+)", args.seconds + 30,
                                   "busy target").group(1))
            time.sleep(0.2)
            cpu = r.cpu_ns() - c0
        finally:
            stop(r.p)
    finally:
        t.kill()
        t.wait()
        reap(t)
    return cpu, events


def per_event_row(args, mode):
    per_event = []
    for i in range(args.rounds):
        spin_cpu, _ = busy_window(args, "spin")
        cpu, events = busy_window(args, mode)
        per_event.append((cpu - spin_cpu) / 1e3 / max(1, events))
        progress("%s round %d: %.2f us of refbpf's CPU per %s (%d made; %.1f ms, %.1f ms "
                 "spinning)" % (mode, i + 1, per_event[-1], mode, events, cpu / 1e6,
                                spin_cpu / 1e6))
    return per_event


def row_thread(args):
    return {"thread_us": per_event_row(args, "thread")}


def row_code(args):
    return {"code_us": per_event_row(args, "code")}


def row_rss(args):
    srv, port = run.start_demo_server(args.python, "threaded")
    readings = []
    try:
        r = run.Refbpf(args.refbpf, [srv.pid], 100)
        load = threading.Thread(target=run.run_load,
                                args=(args, port, args.rss_seconds + 2))
        try:
            r.wait_for("attached")
            load.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.rss_seconds:
                time.sleep(1)
                readings.append((time.monotonic() - t0, run.vm_kb(r.pid, "VmRSS") / 1024))
        finally:
            stop(r.p)
            if load.is_alive():
                load.join()
    finally:
        srv.kill()
        srv.wait()
        reap(srv)
    # least squares over the second half of the window
    xs = [(t, m) for t, m in readings if t >= args.rss_seconds / 2]
    mt = sum(t for t, _ in xs) / len(xs)
    mm = sum(m for _, m in xs) / len(xs)
    slope = (sum((t - mt) * (m - mm) for t, m in xs) /
             max(1e-9, sum((t - mt) ** 2 for t, _ in xs)))
    progress("rss: %.1f MiB after %.0f s, %.1f MiB at the end, %+.2f MiB/h"
             % (readings[0][1], readings[0][0], readings[-1][1], slope * 3600))
    return {"rss_mib": [readings[-1][1]], "rss_mib_per_hour": [slope * 3600]}


def spread(xs):
    return "%.2f [%.2f-%.2f]" % (med(xs), min(xs), max(xs)) if xs else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refbpf", default=os.path.join(run.ROOT, "refbpf"))
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--rows", default=",".join(ROWS), help="of %s" % ", ".join(ROWS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rss-seconds", type=int, default=60)
    # the load of the rss row (bench/run.py's run_load)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    args.wrk = shutil.which("wrk")
    rows = args.rows.split(",")
    unknown = set(rows) - set(ROWS)
    if unknown:
        sys.exit("unit_costs: no row %s (rows: %s)" % (", ".join(sorted(unknown)), ", ".join(ROWS)))
    if os.geteuid() != 0:
        sys.exit("unit_costs: run as root (BPF, bpf_stats_enabled)")
    signal.signal(signal.SIGTERM, on_signal)
    with open(run.BPF_STATS) as f:
        stats_before = f.read().strip()
    figures = {}
    try:
        with open(run.BPF_STATS, "w") as f:
            f.write("1")
        for row in rows:
            figures.update(globals()["row_" + row](args))
    except (BenchError, KeyboardInterrupt) as e:
        kill_children()
        sys.exit("unit_costs: %s" % e)
    finally:
        with open(run.BPF_STATS, "w") as f:
            f.write(stats_before)
    table = [
        ("switch_bpf_ns", "BPF per context switch of non-targets, --mode wall (ns)"),
        ("switch_roundtrips_without", "  ping-pong round trips/s without refbpf"),
        ("switch_roundtrips_with", "  ping-pong round trips/s with refbpf"),
        ("exec_cpu_us", "refbpf's CPU per exec of /bin/true, --all (us)"),
        ("exec_bpf_us", "  BPF per exec, in the exec'ing tasks (us)"),
        ("execs_per_s", "  execs/s of the loop"),
        ("sample_bpf_us", "BPF per sample, 1,000 distinct frames, 100 Hz (us)"),
        ("watched_us_per_s", "refbpf's CPU per idle process watched, --all (us/s)"),
        ("thread_us", "refbpf's CPU per thread made and ended, -p (us)"),
        ("code_us", "refbpf's CPU per new code object, -p (us)"),
        ("rss_mib", "refbpf RSS, demo server under load, 100 Hz (MiB)"),
        ("rss_mib_per_hour", "  its growth (MiB per hour)"),
    ]
    print("%-58s %-26s %s" % ("cost per unit of work", "median [min-max]", "goal"))
    for key, label in table:
        if key in figures:
            goal = GOALS.get(key)
            verdict = "" if goal is None else "<= %g: %s" % (
                goal, "met" if med(figures[key]) <= goal else "NOT met")
            print("%-58s %-26s %s" % (label, spread(figures[key]), verdict))
    out = os.path.join(run.ROOT, "bench", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "unit_costs.json"), "w") as f:
        json.dump({"args": vars(args), "figures": figures}, f, indent=1)


if __name__ == "__main__":
    main()
