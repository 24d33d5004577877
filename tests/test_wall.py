"""--mode wall: off-CPU time (blocked in recv, sleeping, waiting) measured
exactly from the scheduler and attributed to the stack the thread blocked
in; --mode cpu leaves it out."""
import subprocess

import pytest

from conftest import tool_path
from kernel_times import CpuGiven, asleep, assert_sampled, off_cpu_after_sleeping, thread_times
from profiling import Target, markers, parse_folded, run_refbpf, sample_period_s, target_path


RATE = 200
THREAD_FUNCS = ("busy_thread", "recv_thread", "sleep_thread", "main")


def thread_of(frames):
    names = [f[0] for f in frames]
    for name in THREAD_FUNCS[:3]:
        if name in names:
            return name
    return "main" if "main" in names else None


def shares(stacks):
    per = dict.fromkeys(THREAD_FUNCS, 0)
    for frames, count in stacks:
        who = thread_of(frames)
        if who:
            per[who] += count
    return per


def header_duration(stdout):
    first = stdout.splitlines()[0]
    return float(first.split("; ")[1].split(" s at ")[0])


@pytest.mark.root
def test_wall_mode_gives_each_thread_its_wall_time(python, tmp_path, refbpf_bin):
    label, path, version = python
    script = target_path("wall_threads.py")
    lines = markers(script)
    folded = tmp_path / "wall.folded"
    with Target(path, script) as t:
        before = thread_times(t.pid)
        r = run_refbpf(refbpf_bin, ["-v", "-p", t.pid, "-d", 3, "-F", RATE, "--mode", "wall",
                                    "--folded", folded])
        # the busy thread (the one with the most CPU time): how long it was
        # off CPU after sleeping, in a window holding the recording's
        after = thread_times(t.pid)
        busy = max(asleep(before, after).items(), key=lambda kv: kv[1][0])[0]
        busy_slept = off_cpu_after_sleeping(before, after, busy)
    assert "wall mode" in r.stdout.splitlines()[0], r.stdout
    # what refbpf saw (switch-outs without a stack, lost samples), for any failure below
    seen = "\n".join(r.stdout.splitlines()[:3] + r.stderr.splitlines())
    # a switch-in the kernel left unreported is told from the thread's CPU time
    assert "(0 could not be)" in r.stderr, seen
    stacks = parse_folded(folded)
    per = shares(stacks)
    total = sum(c for _, c in stacks)
    assert total == sum(per.values()), (per, total)
    # four threads alive all along: a quarter of the wall time each
    for who, n in per.items():
        assert abs(100.0 * n / total - 25.0) <= 2.0, (who, per, total, seen)
    # exact, not sampled: each blocked thread's time is the recording's
    expected = header_duration(r.stdout) / sample_period_s(RATE)
    for who in ("recv_thread", "sleep_thread", "main"):
        assert abs(per[who] - expected) <= 0.02 * expected + 2, (who, per[who], expected, seen)
    # attributed to the line it blocked on, under an <off-CPU> leaf
    blocked = {(f[-2][0], f[-2][2]): c for f, c in stacks if f[-1][0] == "<off-CPU>"}
    assert blocked.get(("recv_thread", lines["recv"]), 0) >= 0.98 * per["recv_thread"], blocked
    assert blocked.get(("sleep_thread", lines["sleep"]), 0) >= 0.98 * per["sleep_thread"], blocked
    # the busy thread blocks only for the GIL, which the others take now
    # and then: its time off CPU is waiting for one, but for what the
    # kernel says it slept and waited for a CPU after (a longer window)
    busy_blocked = sum(c for f, c in stacks if f[-1][0] == "<off-CPU>" and
                       any(x[0] == "busy_thread" for x in f))
    assert busy_blocked <= busy_slept / sample_period_s(RATE) * 1.02 + 2, (busy_blocked, busy_slept, per)


@pytest.mark.root
def test_cpu_mode_leaves_blocked_threads_out(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "cpu.folded"
    with Target(path, target_path("wall_threads.py")) as t:
        given = CpuGiven(t.pid)
        before = thread_times(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", RATE, "--folded", folded])
        after = thread_times(t.pid)
        stacks = parse_folded(folded)
        per = shares(stacks)
        # nearly all the target's CPU time is the busy thread's
        assert_sampled(per["busy_thread"], given, r.stdout, RATE, part=0.9)
    assert "cpu mode" in r.stdout.splitlines()[0], r.stdout
    assert not any(f[-1][0] == "<off-CPU>" for f, _ in stacks)
    # The other three are blocked nearly all the time: they get samples
    # only for the CPU the kernel gave them (a few ms of wake-ups), never
    # for their time asleep (400 samples each). A CPU timer catches such
    # short bursts in proportion only on average: under two CPU hogs the
    # sleeping thread got 1-4 samples for 0.6 samples' worth of CPU.
    times = asleep(before, after)
    busy = max(times, key=lambda tid: times[tid][0])
    others_cpu = sum(cpu for tid, (cpu, _, _) in times.items() if tid != busy)
    blocked = {who: per[who] for who in ("recv_thread", "sleep_thread", "main")}
    assert sum(blocked.values()) <= 4 * others_cpu * RATE + 3, (blocked, others_cpu, per)


@pytest.mark.root
def test_wall_mode_every_output_agrees(tmp_path, refbpf_bin):
    """The off-CPU periods are ordinary samples to every writer: the raw
    file renders the same report (mode, GIL columns and all), pstats totals
    match the folded file, the flame graph draws kernel frames as such."""
    import marshal
    folded, raw, prof = tmp_path / "w.folded", tmp_path / "w.raw", tmp_path / "w.prof"
    svg, pprof = tmp_path / "w.svg", tmp_path / "w.pb.gz"
    with Target("/usr/bin/python3", target_path("wall_threads.py")) as t:
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "--mode", "wall", "--gil", "--kernel",
                                    "--folded", folded, "--raw", raw, "-o", prof,
                                    "--flamegraph", svg, "--pprof", pprof])
    assert "wall mode, kernel stacks, GIL" in r.stdout.splitlines()[0], r.stdout
    assert "gilwait" in r.stdout
    again = run_refbpf(refbpf_bin, ["report", raw])
    assert again.stdout == r.stdout
    assert '<g class="f kernel"' in svg.read_text()
    # pprof names what its values measure: wall time, not CPU time
    import gzip
    data = gzip.decompress(pprof.read_bytes())
    assert b"\x04wall" in data and b"\x03cpu" not in data
    total = sum(c for _, c in parse_folded(folded))
    with open(prof, "rb") as f:
        stats = marshal.load(f)
    root = stats[("~", 0, "<refbpf: all samples>")]
    assert root[0] == total and abs(root[3] - total * sample_period_s(100)) < 1e-6
    assert ("~", 0, "<off-CPU>") in stats


def test_bad_mode_is_refused(refbpf_bin):
    r = subprocess.run([refbpf_bin, "-p", "1", "--mode", "idle"], capture_output=True, text=True)
    assert r.returncode != 0
    assert r.stderr.strip() == "refbpf: unknown mode 'idle' (cpu or wall)"


def off_cpu_check(script, period_ns=1000, unseen=False):
    r = subprocess.run([tool_path("off_cpu_check"), str(period_ns)], input=script,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
    lines = r.stdout.splitlines()
    adds = [(int(x.split()[1]), int(x.split()[2])) for x in lines if x.startswith("add ")]
    lost = int(lines[-2].split()[1])
    if unseen:
        return adds, lost, tuple(int(x) for x in lines[-1].split()[1:])
    return adds, lost


def test_off_cpu_intervals_are_counted_exactly_with_carry():
    # 2.5 periods, then 1.7: the half period left over joins the next interval
    adds, lost = off_cpu_check("leave 7 1000 1\nreturn 7 3500\n"
                               "leave 7 4000 1\nreturn 7 5700\n")
    assert adds == [(7, 2), (7, 2)] and lost == 0, (adds, lost)


def test_off_cpu_time_without_a_stack_is_reported_not_dropped():
    adds, lost = off_cpu_check("leave 7 1000 0\nreturn 7 4000\nleave 8 0 1\nflush 6000\n")
    assert adds == [(8, 6)], adds
    assert lost == 3000, lost


def test_a_switch_in_the_kernel_did_not_report_is_told_from_cpu_time():
    # left at 1000 with 500 ns of CPU time, left again at 5000 with 1500:
    # it ran 1000 ns in between, so 3000 of the 4000 were off CPU
    adds, lost, unseen = off_cpu_check("leave_run 7 1000 500\nleave_run 7 5000 1500\n"
                                       "return 7 6000\n", unseen=True)
    assert adds == [(7, 3), (7, 1)] and lost == 0 and unseen == (1, 0), (adds, lost, unseen)
    # without CPU times nothing is guessed: counted as not told
    adds, lost, unseen = off_cpu_check("leave 7 1000 1\nleave 7 5000 1\nreturn 7 6000\n",
                                       unseen=True)
    assert adds == [(7, 1)] and lost == 0 and unseen == (1, 1), (adds, lost, unseen)
    # a stack read from memory after the switch-out: when the thread came
    # back is not known, so the stack is not trusted
    adds, lost, unseen = off_cpu_check("leave_read 7 1000 2000 500\nleave_run 7 5000 1500\n",
                                       unseen=True)
    assert adds == [] and lost == 3000 and unseen == (1, 0), (adds, lost, unseen)


def test_off_cpu_stack_read_later_counts_only_if_the_thread_had_not_run():
    # read at 2000, back at 5000: still blocked when read, the stack is its own
    adds, lost = off_cpu_check("leave_read 7 1000 2000\nreturn 7 5000\n")
    assert adds == [(7, 4)] and lost == 0, (adds, lost)
    # back at 1500, before the read at 2000: the stack read may be a later one
    adds, lost = off_cpu_check("leave_read 7 1000 2000\nreturn 7 1500\n")
    assert adds == [] and lost == 500, (adds, lost)
    # a window closing after the read keeps it for the rest of the interval
    adds, lost = off_cpu_check("leave_read 7 1000 2000\nflush 3000\nreturn 7 5000\n")
    assert adds == [(7, 2), (7, 2)] and lost == 0, (adds, lost)
