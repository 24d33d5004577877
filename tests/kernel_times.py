"""What the kernel says a target's threads got: CPU time, time waiting on a
run queue, and so time asleep. Timing checks compare refbpf's figures with
these, never with what an idle machine would give: on a busy one a target
gets less CPU than the wall clock suggests."""
import collections
import os
import re
import time

TICK = os.sysconf("SC_CLK_TCK")

# One thread at one moment: seconds on a CPU, seconds runnable but waiting
# for one, times it was given a CPU (schedstat), times it went to sleep
# (voluntary context switches), and when that was read (CLOCK_MONOTONIC).
Times = collections.namedtuple("Times", "comm cpu runq slices sleeps at")


def process_cpu_seconds(pid):
    """User + system CPU seconds of process `pid`, its exited threads too."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_times(pid):
    """{tid: Times} of each live thread of `pid` (schedstat, nanoseconds)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "comm") as f:
                comm = f.read().rstrip("\n")
            with open(base + "schedstat") as f:
                cpu_ns, runq_ns, slices = f.read().split()[:3]
            with open(base + "status") as f:
                sleeps = next(int(l.split()[1]) for l in f
                              if l.startswith("voluntary_ctxt_switches:"))
        except OSError:
            continue
        out[int(tid)] = Times(comm, int(cpu_ns) / 1e9, int(runq_ns) / 1e9, int(slices), sleeps,
                              time.monotonic())
    return out


def asleep(before, after):
    """{tid: (cpu, runq, asleep) seconds} between two thread_times() of the
    same process, for threads alive at both: asleep is the rest of the
    wall time, when the thread neither ran nor could have."""
    out = {}
    for tid, a in after.items():
        b = before.get(tid)
        if b is None:
            continue
        cpu, runq = a.cpu - b.cpu, a.runq - b.runq
        out[tid] = (cpu, runq, max(0.0, (a.at - b.at) - cpu - runq))
    return out


def off_cpu_after_sleeping(before, after, tid):
    """The most time thread `tid` can have spent off a CPU since it went
    to sleep, between two thread_times(): asleep, plus the waits for a CPU
    once woken. schedstat gives only the sum of all its waits for a CPU
    (after a wake-up or after being preempted), so that sum is the bound:
    a mean wait per wake-up is no bound on a loaded machine, where the
    wait after a wake-up may be the longest."""
    b, a = before[tid], after[tid]
    cpu, runq = a.cpu - b.cpu, a.runq - b.runq
    slept = max(0.0, (a.at - b.at) - cpu - runq)
    return slept + runq


def recorded_seconds(report):
    """The duration refbpf's report header gives ("...; 2.00 s at 499 Hz")."""
    m = re.search(r"; ([\d.]+) s at \d+ Hz", report)
    assert m, "no duration in the report header: %r" % report[:300]
    return float(m.group(1))


class CpuGiven:
    """The CPU time the kernel gives processes from now on. A recording in
    cpu mode should hold about their share of a CPU over the window, times
    the recording's duration, times the rate: what an idle machine's
    samples-per-second figures assumed, measured instead."""

    def __init__(self, *pids):
        self.pids = pids
        self.cpu = self._cpu()
        self.at = time.monotonic()

    def _cpu(self):
        return sum(process_cpu_seconds(p) for p in self.pids)

    def share(self):
        return (self._cpu() - self.cpu) / (time.monotonic() - self.at)

    def samples(self, report, rate):
        return self.share() * recorded_seconds(report) * rate


def assert_sampled(count, given, report, rate, part=1.0):
    """`count` samples (of `part` of the processes' CPU time) hold at least
    0.4 of what the kernel's CPU time warrants, and that is enough to test
    anything (20 samples). A floor, not a measure of accuracy: the share
    is taken over a window wider than the recording (refbpf's start and
    its writing of the outputs), over which a loaded machine gives the
    target more or less CPU. Accuracy is test_record's
    test_sampled_in_proportion_to_cpu_time_on_a_shared_cpu."""
    assert_sampled_cpu(count, given.share() * recorded_seconds(report), rate, part)


def assert_sampled_cpu(count, cpu_seconds, rate, part=1.0, what="the target"):
    """The same for processes that ran `cpu_seconds` while recorded."""
    want = cpu_seconds * rate * part
    assert want >= 20, "%s got %.0f samples' worth of CPU: too little to test" % (what, want)
    assert count >= 0.4 * want, "%s: %d samples where the kernel's CPU time warrants %.0f" % (
        what, count, want)
