"""What every bench/ experiment shares: the children it starts (killed on
any exit), CPU and BPF accounting, small statistics."""
import json
import os
import re
import sys
import socket
import statistics
import subprocess
import threading

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


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


def task_schedstat(pid, field):
    """A /proc/PID/task/*/schedstat field summed over the live threads of
    PID: 0 CPU time in ns (unlike the 10 ms ticks of /proc/PID/stat), 2 the
    times they were scheduled in. Misses threads that exited, so use it
    for long-lived threads only (refbpf)."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[field])
        except (OSError, ValueError, IndexError):
            pass
    return total


def task_cpu_ns(pid):
    """CPU time of the live threads of PID in ns."""
    return task_schedstat(pid, 0)


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


def fd_infos(pid):
    """{field: value} of each of PID's open fds (/proc/PID/fdinfo); none
    once it is gone. tests/test_record.py uses it too."""
    try:
        fds = os.listdir("/proc/%d/fdinfo" % pid)
    except OSError:
        return
    for fd in fds:
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                yield dict(line.rstrip("\n").split(":", 1) for line in f if ":" in line)
        except OSError:
            continue


def fd_prog_ids(pid):
    """IDs of the BPF programs whose fds PID holds (/proc/PID/fdinfo)."""
    return {int(i["prog_id"]) for i in fd_infos(pid) if "prog_type" in i and "prog_id" in i}


def prog_stats(pid, names, progs=None):
    """(run time ns, run count) summed over PID's BPF programs named in
    `names` (all of them when None), from `progs` (bpftool_progs(), taken
    now when not given)."""
    ours = fd_prog_ids(pid)
    progs = bpftool_progs() if progs is None else progs
    ids = [i for i in ours if i in progs and (names is None or progs[i][0] in names)]
    if not ids:
        raise BenchError("no BPF program named %s among PID %d's fds (%s)"
                         % (sorted(names or ()), pid, sorted(ours)))
    return sum(progs[i][1] for i in ids), sum(progs[i][2] for i in ids)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


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


def hz(r):
    return "%g kHz" % (r / 1000) if r >= 1000 else "%d Hz" % r


def progress(msg):
    print(msg, file=sys.stderr, flush=True)
