"""Root integration tests: profile real interpreters with the real binary."""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import tool_path
from kernel_times import (CpuGiven, asleep, assert_sampled, assert_sampled_cpu, process_cpu_seconds,
                          thread_times)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from common import fd_infos  # noqa: E402  (bench/common.py: /proc/PID/fdinfo)
from profiling import (Recording, Target, function_samples, go, go_file, markers,
                       parse_folded, run_refbpf, sample_period_s, self_samples, target_path)
from pythons import find_interpreters

INTERPRETERS = [i for i in find_interpreters() if i[2] >= (3, 8)]

pytestmark = pytest.mark.root


def qualified(version, cls, name):
    """The name refbpf shows: the qualified name where the version has one."""
    return "%s.%s" % (cls, name) if version >= (3, 11) else name


def test_known_stack_exact(python, tmp_path, refbpf_bin):
    label, path, version = python
    script = target_path("known_stack.py")
    lines = markers(script)
    folded = tmp_path / "out.folded"
    with Target(path, script, 8, 5) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", 499, "--folded", folded])
        stacks = parse_folded(folded)
        total = sum(c for _, c in stacks)
        assert_sampled(total, given, r.stdout, 499)
    expected_prefix = [
        ("<module>", script, lines["module"]),
        ("main", script, lines["main"]),
        (qualified(version, "Worker", "run"), script, lines["run"]),
    ] + [("recurse", script, lines["recurse"])] * 5 + [
        ("recurse", script, lines["call_leaf"]),
    ]
    exact = 0
    for frames, count in stacks:
        if frames[:-1] == expected_prefix and frames[-1][0] == "leaf" and \
                frames[-1][2] in (lines["leaf_loop"], lines["leaf_body"]) and \
                frames[-1][1] == script:
            exact += count
    # Everything but a few samples taken while the loop calls
    # time.monotonic() (a C function: no Python frame of its own) is exact.
    assert exact >= 0.95 * total, "\n".join("%r %d" % s for s in stacks[:10])
    # The report names the function by its qualified name and first line.
    assert "(%s)" % qualified(version, "Worker", "run") in r.stdout
    assert "Python %d.%d" % version[:2] in r.stdout


def test_mixed_frame_kinds_exact(python, tmp_path, refbpf_bin):
    """Coroutines, a generator, a callback from C, frames of kilobytes and a
    recursion 150 deep in one stack: on 3.11+ it crosses pages and
    data-stack chunks, where the sampler reads runs of frames at once."""
    label, path, version = python
    script = target_path("mixed_frames.py")
    lines = markers(script)
    folded = tmp_path / "out.folded"
    with Target(path, script, 8) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", 499, "--folded", folded])
        stacks = parse_folded(folded)
        total = sum(c for _, c in stacks)
        assert_sampled(total, given, r.stdout, 499)
    root = [("<module>", script, lines["module"]), ("main", script, lines["main"])]
    from_outer = [
        ("outer", script, lines["outer"]),
        ("inner", script, lines["inner"]),
    ] + [("big_%d" % i, "<big_frames>", 3) for i in range(6)] + [
        ("big_last", script, lines["call_recurse"]),
    ] + [("recurse", script, lines["recurse"])] * 150 + [
        ("recurse", script, lines["call_generator"]),
        ("through_generator", script, lines["next"]),
        ("numbers", script, lines["sorted"]),
    ]
    leaf_lines = (lines["spin"], lines["spin_body"])
    exact = 0
    for frames, count in stacks:
        names = [f[0] for f in frames]
        if "outer" not in names or frames[:2] != root:
            continue
        # asyncio's own frames between main() and outer() vary by version
        rest = frames[names.index("outer"):]
        if rest[:-1] == from_outer and rest[-1][0] == "spin_key" and \
                rest[-1][1] == script and rest[-1][2] in leaf_lines:
            exact += count
    # all but the samples taken in time.monotonic() (C, no frame of its own)
    assert exact >= 0.95 * total, "%d of %d exact; first stacks:\n%s" % (
        exact, total, "\n".join("%r %d" % s for s in stacks[:3]))


def test_pstats_loads_and_counts_recursion_once(python, tmp_path, refbpf_bin):
    label, path, version = python
    script = target_path("known_stack.py")
    out = tmp_path / "profile.out"
    with Target(path, script, 6, 7) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 1.5, "-F", 499, "-o", out])
    check = r"""
import pstats, sys
s = pstats.Stats(sys.argv[1])
recurse = [k for k in s.stats if k[2] == 'recurse']
leaf = [k for k in s.stats if k[2] == 'leaf']
assert len(recurse) == 1 and len(leaf) == 1, s.stats.keys()
cc, nc, tt, ct, callers = s.stats[recurse[0]]
lcc, lnc, ltt, lct, lcallers = s.stats[leaf[0]]
# on the stack 8 times per sample, counted once
assert ct <= s.total_tt * 1.0001 and cc == lcc, (ct, s.total_tt, cc, lcc)
assert recurse[0] in callers, 'recursion edge missing'
assert list(lcallers) == recurse, lcallers
roots = [k for k, v in s.stats.items() if not v[4]]
assert len(roots) == 1, roots
print('ok', cc)
"""
    r = subprocess.run([path, "-c", check, str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")


def test_known_time_shares(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "out.folded"
    with Target(path, target_path("shares.py"), 10) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 4, "-F", 997, "--folded", folded])
        stacks = parse_folded(folded)
        total = sum(c for _, c in stacks)
        assert_sampled(total, given, r.stdout, 997)
    for name, expected in (("share_one", 1 / 6), ("share_two", 2 / 6), ("share_three", 3 / 6)):
        share = function_samples(stacks, name) / total
        # 3 points, or three standard deviations of a share of this many
        # samples where a busy machine gave the target fewer
        within = max(0.03, 3 * (expected * (1 - expected) / total) ** 0.5)
        assert abs(share - expected) < within, "%s: %.3f vs %.3f in %d samples" % (
            name, share, expected, total)


def test_every_thread_seen(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "out.folded"
    with Target(path, target_path("threads.py"), 8, 4) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 3, "-F", 499, "--folded", folded])
        stacks = parse_folded(folded)
        for i in range(4):
            # four busy threads: about a quarter of the CPU time each
            assert_sampled(self_samples(stacks, "thread_work_%d" % i), given, r.stdout, 499,
                           part=0.25)
    # The main thread (blocked in join) and the sleeping one never run: in
    # CPU mode only the four workers are sampled, each on its own thread.
    assert "samples, 4 threads" in r.stdout, r.stdout


@pytest.mark.parametrize("rate", [1000, 250, 100])
def test_sampled_in_proportion_to_cpu_time_on_a_shared_cpu(rate, tmp_path, refbpf_bin):
    """A busy target and a busy shell loop share one CPU: the target's
    samples are its CPU time (schedstat) times the rate, within the noise
    of sampling. A sampler with a fixed period beats against the
    scheduler's tick, which switches the two at fixed instants too: it
    caught the target 0.25 to 1.8 times as often as its CPU time warrants
    at 250 Hz (on this 250 Hz kernel), 0.66 to 1.34 times at 100 Hz, 0.93
    to 1.14 times at 1000 Hz. A period 1% longer than 1/rate sweeps the
    tick instead (user/record/sample_period.h)."""
    label, path, version = INTERPRETERS[-1]
    folded = tmp_path / "out.folded"
    cpu = sorted(os.sched_getaffinity(0))[-1]
    seconds = {1000: 4, 250: 8, 100: 12}[rate]
    hog = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        with Target(path, target_path("known_stack.py"), 120, 5) as t:
            os.sched_setaffinity(t.pid, {cpu})
            rec = Recording(refbpf_bin, ["-p", t.pid, "-d", seconds, "-F", rate,
                                         "--folded", folded], tmp_path)
            rec.wait_attached()
            before = thread_times(t.pid)
            code, out, err = rec.finish()
            after = thread_times(t.pid)
    finally:
        hog.kill()
        hog.wait()
    assert code == 0, err
    got = sum(c for _, c in parse_folded(folded))
    want = (after[t.pid].cpu - before[t.pid].cpu) / sample_period_s(rate)
    assert want >= 150, "the target got %.0f samples' worth of CPU: too little" % want
    # the window measured starts up to one poll (50 ms) after the sampler
    # did and ends after refbpf wrote its outputs
    assert 0.88 * want - 2 <= got <= 1.12 * want + 2, (got, want)


FREE_THREADED = [i for i in INTERPRETERS if i[0].endswith("t")]


@pytest.mark.parametrize("python", FREE_THREADED or [None],
                         ids=[i[0] for i in FREE_THREADED] or ["none"])
def test_free_threaded_threads_run_in_parallel(python, tmp_path, refbpf_bin):
    """On a free-threaded build two busy threads never wait for each other:
    the kernel says each one's time is CPU time or a wait for a CPU, never
    sleep, which no GIL build's threads can say (one sleeps while the other
    holds the GIL). refbpf's samples of each match that thread's own CPU
    time, so no parallel thread's time is missed."""
    if python is None:
        pytest.skip("skipped: no free-threaded interpreter here (scripts/fetch-pythons.sh builds 3.13t)")
    label, path, version = python
    folded = tmp_path / "out.folded"
    seconds, rate = 3, 499
    with Target(path, target_path("threads.py"), 10, 2) as t:
        time.sleep(0.3)
        before = thread_times(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", seconds, "-F", rate, "--folded", folded])
        after = thread_times(t.pid)
    # a pre-release says so (3.15.0rc1t), as sys.version does
    assert re.search(r"Python %d\.%d\.\d+(?:(?:a|b|rc)\d+)?t\b" % version[:2], r.stdout), \
        r.stdout
    stacks = parse_folded(folded)
    workers = {after[tid].comm: times for tid, times in asleep(before, after).items()
               if after[tid].comm.startswith("worker-")}
    assert len(workers) == 2, after
    for name, (cpu, runq, slept) in workers.items():
        assert slept < 0.05 * (cpu + runq + slept), (name, workers)
    # the kernel's CPU time per second of the window, against refbpf's
    # samples per second of its recording (both threads are always busy)
    duration = float(re.search(r"; ([\d.]+) s at \d+ Hz", r.stdout).group(1))
    window = after[t.pid].at - before[t.pid].at
    for i in range(2):
        cpu = workers["worker-%d" % i][0] / window
        sampled = self_samples(stacks, "thread_work_%d" % i) / rate / duration
        assert abs(sampled - cpu) < 0.15 * cpu + 0.02, (i, sampled, cpu, workers)


def test_target_exit_ends_recording_with_names(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded, out = tmp_path / "out.folded", tmp_path / "p.out"
    with Target(path, target_path("exits.py"), 2) as t:
        given = CpuGiven(t.pid)
        rec = Recording(refbpf_bin, ["-p", t.pid, "-d", 60, "-F", 499, "--folded", folded,
                                     "-o", out], tmp_path)
        deadline = time.monotonic() + 120
        while not zombie(t.pid):
            assert time.monotonic() < deadline, "the target never exited"
            time.sleep(0.01)
        gone = time.monotonic()
        rc, stdout, stderr = rec.finish(timeout=60)
        ended = time.monotonic() - gone
        # exited, not reaped yet: its CPU time is still there
        assert_sampled(self_samples(parse_folded(folded), "work_until_exit"), given, stdout, 499)
    assert rc == 0, stderr
    assert ended < 10, "recording went on %.1f s after the target exited" % ended
    assert "exited" in stdout
    assert out.stat().st_size > 0


@pytest.mark.parametrize("children", [False, True], ids=["pid", "children"])
def test_target_exit_noticed_at_once(tmp_path, refbpf_bin, children):
    """A target's exit ends the recording at once, not at a liveness check
    seconds later: learnt from its pidfd, or with -C, whose descendants
    come and go by the thousand, from BPF's exit program."""
    label, path, version = INTERPRETERS[-1]
    folded = tmp_path / "out.folded"
    with Target(path, target_path("exits.py"), 3) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-d", 60, "--folded", folded] +
                        (["-C"] if children else []), tmp_path)
        rec.wait_attached()
        given = CpuGiven(t.pid)
        deadline = time.monotonic() + 30
        while not zombie(t.pid):
            assert time.monotonic() < deadline, "the target never exited"
            time.sleep(0.01)
        gone = time.monotonic()
        rc, stdout, stderr = rec.finish(timeout=30)
        ended = time.monotonic() - gone
        assert_sampled(self_samples(parse_folded(folded), "work_until_exit"), given, stdout, 100)
    assert rc == 0, stderr
    assert ended < 1.5, "refbpf ended %.1f s after its target" % ended


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_outputs(sig, tmp_path, refbpf_bin):
    label, path, version = INTERPRETERS[-1]
    folded, out = tmp_path / "out.folded", tmp_path / "p.out"
    with Target(path, target_path("known_stack.py"), 30) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "--folded", folded, "-o", out], tmp_path)
        rec.wait_attached()
        given = CpuGiven(t.pid)
        time.sleep(2)
        rec.proc.send_signal(sig)
        rc, stdout, stderr = rec.finish(timeout=20)
        assert rc == 0, stderr[-2000:]
        assert_sampled(self_samples(parse_folded(folded), "leaf"), given, stdout, 100)
    assert "leaf" in stdout
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")], os.listdir(tmp_path)


def test_attach_right_after_exec(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "out.folded"
    t = Target(path, target_path("known_stack.py"), 60, ready=False)
    try:
        given = CpuGiven(t.pid)
        # No wait: the interpreter is still starting (or not even mapped).
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", 499, "--folded", folded], tmp_path)
        # Recorded until the target has had a second of CPU, not for a
        # fixed time: under load a start can take seconds of waiting, not
        # of CPU (trixie's 3.13t calls sched_yield some 1,800 times while it
        # imports its first modules, and each yield lets the CPU hogs run).
        deadline = time.monotonic() + 60
        while process_cpu_seconds(t.pid) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        rec.proc.send_signal(signal.SIGINT)
        rc, stdout, stderr = rec.finish()
        assert rc == 0, stderr[-2000:]
        # all but its start-up, on a busy machine up to half the recording
        assert_sampled(self_samples(parse_folded(folded), "leaf"), given, stdout, 499,
                       part=0.5)
    finally:
        t.stop()


def test_reused_code_addresses_never_mislabelled(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "out.folded"
    rounds, short, long_ = 24, 0.06, 0.18
    gofile = go_file(tmp_path)
    with Target(path, target_path("reuse.py"), rounds, short, long_,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", "1000", "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        lines = t.rest_of_output(timeout=120)
        rc, stdout, stderr = rec.finish(timeout=30)
    assert rc == 0, stderr
    codes = [l.split()[1:] for l in lines if l.startswith("CODE ")]
    assert len(codes) == rounds
    by_addr = {}
    for name, addr in codes:
        by_addr.setdefault(addr, []).append(name)
    reused = [names for names in by_addr.values() if len(names) > 1]
    assert reused, "the allocator reused no code object address: the test proves nothing"
    stacks = parse_folded(folded)
    # Samples refbpf could not name (a code object freed before it was
    # read: on a loaded machine refbpf may run too late) are marked and
    # counted, as are those lost or not unwound; they may explain samples a
    # function misses, never samples it has too many of.
    m = re.search(r"Samples lost: (\d+); not unwound: (\d+)", stdout)
    assert m, stdout[:500]
    marked = self_samples(stacks, "<unknown code object>") + int(m.group(1)) + int(m.group(2))
    missing = 0
    for i, (name, addr) in enumerate(codes):
        expected = (short if i % 2 == 0 else long_) * 1000
        got = self_samples(stacks, name)
        # A mislabel would move a function's samples to its neighbour.
        assert got <= 1.5 * expected, "%s: %d samples, expected ~%d" % (name, got, expected)
        missing += max(0.0, 0.5 * expected - got)
    assert missing <= marked, "%.0f samples missing beyond half of what functions' CPU warrants, " \
        "%d marked unknown, lost or not unwound:\n%s" % (missing, marked, stdout[:1500])


def zombie(pid):
    """Whether process `pid` has exited and waits to be reaped."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


def voluntary_switches(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc/%d/status" % pid)


def code_counter_address(pid):
    """Where layout_probe finds process `pid`'s code counter; 0: none."""
    r = subprocess.run([tool_path("layout_probe"), "--code-counter", str(pid)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(dict(kv.split("=") for kv in r.stdout.split())["code_gen"], 16)


def test_new_code_wakes_refbpf_only_while_code_objects_churn(python, tmp_path, refbpf_bin):
    """A sample of a code object BPF has not sent before wakes userspace at
    once only while code objects come and go (the reuse test above needs
    that). A long-lived program whose counter stands still has its rarely
    run functions read at the next poll instead: no wake-up each. Without
    a counter (3.8-3.11) nothing says so, and each one wakes it. Samples
    are counted against the CPU time the kernel gave the target."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    rate = 100
    with Target(path, target_path("rare_functions.py"), 3000, 20) as t:
        counter = code_counter_address(t.pid)
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", rate, "-d", 12, "--folded", folded],
                        tmp_path)
        rec.wait_attached()
        given = CpuGiven(t.pid)
        time.sleep(3.0)         # past the counter's 2 s quiet period
        before = voluntary_switches(rec.proc.pid), process_cpu_seconds(t.pid)
        time.sleep(4.0)
        woken = voluntary_switches(rec.proc.pid) - before[0]
        # each sample of the target's CPU time is of a function not seen before
        new_code = (process_cpu_seconds(t.pid) - before[1]) * rate
        rc, stdout, stderr = rec.finish()
        stacks = parse_folded(folded)
        sampled = sum(c for _, c in stacks)
        # without a counter each sample wakes refbpf, which then takes the
        # CPU the target was sampled on: 0.49-0.84 of its CPU time sampled
        # under CPU hogs, against 0.85-1 with one
        assert_sampled(sampled, given, stdout, rate, part=1.0 if counter else 0.5)
    assert rc == 0, stderr
    assert new_code >= 20, "the target ran %.0f samples' worth in 4 s: this proves nothing" % (
        new_code)
    # the 5 s poll wakes it once
    if counter:
        assert woken <= 3, "refbpf woke %d times in 4 s of a quiet target (%.0f new)" % (
            woken, new_code)
    else:
        # each one asks for a wake-up; those that come while refbpf still
        # waits for a CPU are one (a third of them, at a load of 10 on 2 CPUs)
        assert woken >= 10, (
            "%s has no code counter, yet refbpf woke only %d times for %.0f new code objects" % (
                label, woken, new_code))
    # one function per 10 ms of CPU: nearly every sample names another
    names = {f[0] for frames, _ in stacks for f in frames if f[0].startswith("rare_")}
    assert len(names) >= 0.5 * sampled, "%d rare_ functions named in %d samples" % (
        len(names), sampled)


@pytest.mark.parametrize("moved", [False, True], ids=["two-targets-one-cpu", "moved-to-another-cpu"])
def test_quiet_code_counter_stays_quiet_across_cpus_and_targets(moved, tmp_path, refbpf_bin):
    """The counter's quiet period belongs to the process: two quiet targets
    taking turns on one CPU, or one moved to a CPU it never ran on, wake
    refbpf no more than one alone (it once woke it per sample then)."""
    if os.cpu_count() < 2:
        pytest.fail("needs two CPUs")
    label, path, version = INTERPRETERS[-1]
    folded = tmp_path / "out.folded"
    with contextlib.ExitStack() as stack:
        targets = [stack.enter_context(Target(path, target_path("rare_functions.py"), 3000, 20))
                   for _ in range(1 if moved else 2)]
        assert code_counter_address(targets[0].pid), "%s has no code counter" % label
        for t in targets:
            os.sched_setaffinity(t.pid, {0})
        rec = Recording(refbpf_bin, ["-p"] + [t.pid for t in targets] +
                        ["-F", 100, "-d", 12, "--folded", folded], tmp_path)
        rec.wait_attached()
        time.sleep(3.0)         # past the counter's 2 s quiet period
        if moved:
            os.sched_setaffinity(targets[0].pid, {1})
        before = voluntary_switches(rec.proc.pid), process_cpu_seconds(targets[0].pid)
        time.sleep(4.0)
        woken = voluntary_switches(rec.proc.pid) - before[0]
        new_code = (process_cpu_seconds(targets[0].pid) - before[1]) * 100
        rc, _, stderr = rec.finish()
    assert rc == 0, stderr
    assert new_code >= 20, "the target ran %.0f samples' worth in 4 s: this proves nothing" % (
        new_code)
    assert woken <= 3, "refbpf woke %d times in 4 s of quiet targets" % woken


@pytest.mark.parametrize("levels", [100, 1000])
def test_code_objects_of_a_deep_stack_stay_cached(python, tmp_path, refbpf_bin, levels):
    """With a code counter (3.12+), BPF reads a code object once and then
    takes it from its per-CPU cache while the counter stands still. 100
    distinct functions on the stack, created in a row as a module's are,
    lie a fixed stride apart in memory: a weak hash put many in one slot,
    so they evicted each other and were read again at every sample. 1,000
    of them overflowed a cache of two ways per set: 60 % were read again.
    Without a counter every frame is read."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    with Target(path, target_path("distinct_levels.py"), levels, 8) as t:
        counter = code_counter_address(t.pid)
        given = CpuGiven(t.pid)
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", 499, "-d", 3, "--folded", folded],
                        tmp_path)
        rc, stdout, stderr = rec.finish()
        deep = sum(c for frames, c in parse_folded(folded) if len(frames) >= levels)
        assert_sampled(deep, given, stdout, 499)
    assert rc == 0, stderr
    m = re.search(r"BPF: (\d+) frames from code objects validated before, (\d+) read again",
                  stderr)
    assert m, stderr
    trusted, read = int(m.group(1)), int(m.group(2))
    assert trusted + read >= levels * deep
    if counter:
        # once per function and CPU, a few more where five share a set
        # (about 2 % of 1,000 functions in bpf/sampler_state.h's sets)
        assert read <= 0.06 * (trusted + read), "%d of %d frames read again" % (
            read, trusted + read)
    else:
        assert trusted == 0, "%s has no code counter, yet %d frames were trusted" % (
            label, trusted)


def test_long_and_wide_names_read_whole(python, tmp_path, refbpf_bin):
    """Names and file names longer than one read of a str object, and
    ones stored at 1, 2 and 4 bytes per character, come out whole and as
    UTF-8."""
    label, path, version = python
    sys.path.insert(0, os.path.dirname(target_path("odd_names.py")))
    try:
        import odd_names
    finally:
        sys.path.pop(0)
    folded = tmp_path / "out.folded"
    with Target(path, target_path("odd_names.py"), 6) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", 499, "--folded", folded])
    seen = {(f[0], f[1]) for frames, _ in parse_folded(folded) for f in frames}
    for name, filename in zip(odd_names.NAMES, odd_names.FILES):
        assert any(n == name and filename.endswith(f or "\0") for n, f in seen), (
            "%r in %r not among %s" % (name[:40], filename[:40], sorted(seen)[:20]))


def test_deep_stack_kept_and_marked_truncated(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "out.folded"
    with Target(path, target_path("known_stack.py"), 6, 1500) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 1.5, "-F", 199, "--folded", folded])
        stacks = parse_folded(folded)
        deep = [(frames, c) for frames, c in stacks if frames[-1][0] == "leaf"]
        assert_sampled(sum(c for _, c in deep), given, r.stdout, 199)
    for frames, count in deep:
        # kept, not dropped: the innermost frames plus the truncation marker
        assert frames[0][0] == "[truncated]", frames[:3]
        assert len(frames) - 1 >= 256
        assert all(f[0] == "recurse" for f in frames[1:-1])


def test_cprofile_edges_present_and_keys_merge(python, tmp_path, refbpf_bin):
    """Profile a program running under cProfile: every edge cProfile records
    between the program's own functions is in refbpf's pstats too, and the
    two files merge key for key."""
    label, path, version = python
    script = target_path("known_stack.py")
    cprof, ours = tmp_path / "cprofile.out", tmp_path / "refbpf.out"
    with Target(path, "-m", "cProfile", "-o", cprof, script, 3, 4) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 60, "-F", 499, "-o", ours])
        t.rest_of_output()
    check = r"""
import pstats, sys
script = sys.argv[3]
c = pstats.Stats(sys.argv[1])
r = pstats.Stats(sys.argv[2])
# Functions that ran long enough to be sampled (the class body of Worker
# runs for microseconds: a sampler cannot see it, and need not).
mine = lambda k: k[0] == script and c.stats[k][3] > 0.2
cedges = {(caller, callee) for callee, v in c.stats.items() if mine(callee)
          for caller in v[4] if mine(caller)}
redges = {(caller, callee) for callee, v in r.stats.items() for caller in v[4]}
assert len(cedges) >= 5, cedges
missing = cedges - redges
assert not missing, missing
ckeys = {k for k in c.stats if mine(k)}
rkeys = {k for k in r.stats if k[0] == script}
assert ckeys == rkeys, (ckeys ^ rkeys)
merged = pstats.Stats(sys.argv[1])
merged.add(sys.argv[2])
assert {k for k in merged.stats if k[0] == script} == set(k for k in c.stats if k[0] == script)
print("ok", len(cedges))
"""
    r = subprocess.run([path, "-c", check, str(cprof), str(ours), script],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_sub_interpreter_seen(python, tmp_path, refbpf_bin):
    """mod_wsgi runs applications in sub-interpreters: their thread states
    hang off another interpreter than the main one."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    # it runs until killed at the end: under a load of 10 refbpf took
    # longer to start than the 6 s it once ran
    with Target(path, target_path("subinterp.py"), 120) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", 199, "--folded", folded])
        stacks = parse_folded(folded)
        total = sum(c for _, c in stacks)
        assert_sampled(total, given, r.stdout, 199)
    sub = self_samples(stacks, "sub_interpreter_work")
    assert sub >= 0.9 * total, r.stdout
    # the sub-interpreter's own module frame (3.14 names it <script>)
    assert any(f[0] == "<module>" and f[1] in ("<string>", "<script>") for frames, _ in stacks
               for f in frames), stacks[:3]


@pytest.mark.parametrize("name", ["python", "python3.13-run"])
def test_interpreter_under_any_file_name(name, tmp_path, refbpf_bin):
    """The interpreter is found by its ELF symbols, not its file name."""
    for label, path, version in INTERPRETERS:
        if label.startswith("debian"):
            break
    else:
        label, path, version = INTERPRETERS[-1]
    renamed = tmp_path / name
    renamed.write_bytes(open(os.path.realpath(path), "rb").read())
    renamed.chmod(0o755)
    folded = tmp_path / "out.folded"
    with Target(renamed, target_path("known_stack.py"), 6) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 1, "-F", 499, "--folded", folded])
        assert_sampled(self_samples(parse_folded(folded), "leaf"), given, r.stdout, 499)
    assert "Python %d.%d" % version[:2] in r.stdout


def test_children_followed_with_C(python, tmp_path, refbpf_bin):
    """-C: forked children, exec'd Python children (one living 300 ms), and
    a Python grandchild started by a shell are all profiled."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    # The short child lives 300 ms: on 2 busy CPUs (four spinning
    # processes) refbpf itself may wait tens of ms to be scheduled.
    gofile = go_file(tmp_path)
    with Target(path, target_path("forker.py"), 1.5, 0.3,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-C", "-F", 499, "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        rc, stdout, stderr = rec.finish()
        t.rest_of_output()
    assert rc == 0, stderr[-2000:]
    stacks = parse_folded(folded)
    # each works 1.5 s of its own CPU time (forker.py), the short child 0.3 s
    for name in ("parent_work", "forked_child_work", "execd_child_work", "grandchild_work"):
        assert_sampled_cpu(function_samples(stacks, name), 1.5, 499, what=name)
        # and not much more: samples are CPU time, within sampling's noise
        assert function_samples(stacks, name) <= 1.2 * 1.5 * 499, (name, stacks[:5])
    # attached early: at least half of its CPU time is after refbpf saw its exec
    assert_sampled_cpu(self_samples(stacks, "short_child_work"), 0.3, 499, part=0.5,
                       what="short_child_work")
    assert "not profiled: not a Python process" in stdout, stdout  # the shell
    assert stdout.count("Python %d.%d" % version[:2]) >= 5, stdout


def test_short_children_attached_before_their_code_runs(python, tmp_path, refbpf_bin):
    """-C under load: each exec'd child living 150 ms is sampled from within
    100 ms of its first line (refbpf's own CLOCK_MONOTONIC timestamp vs the
    child's), and its function is in the profile."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    nchildren = 3
    gofile = go_file(tmp_path)
    with Target(path, target_path("short_children.py"), nchildren, 0.15, 3,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(refbpf_bin, ["-C", "-p", t.pid, "-F", 499, "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        rc, stdout, stderr = rec.finish()
        out = t.rest_of_output()
    r = subprocess.CompletedProcess([], rc, stdout, stderr)
    assert r.returncode == 0, r.stderr[-2000:]
    started = {int(m.group(1)): float(m.group(2))
               for m in (re.match(r"CHILD (\d+) ([\d.]+)", line) for line in out) if m}
    sampled_from = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
        r"PID (\d+): Python .* sampled from ([\d.]+)", r.stderr)}
    assert len(started) == nchildren, out
    stacks = parse_folded(folded)
    for pid, t0 in started.items():
        assert pid in sampled_from, "child %d never attached; refbpf said:\n%s\n%s" % (
            pid, "\n".join(l for l in r.stderr.splitlines() if str(pid) in l), r.stdout[:3000])
        assert sampled_from[pid] - t0 < 0.1, "child %d: attached %.0f ms after its first line" % (
            pid, (sampled_from[pid] - t0) * 1e3)
        samples = sum(c for frames, c in stacks if frames[0][0].startswith("<process %d " % pid)
                      and any(f[0] == "short_child_work" for f in frames))
        assert samples >= 5, "child %d: %d samples of short_child_work" % (pid, samples)


def test_children_not_followed_without_C(python, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "out.folded"
    gofile = go_file(tmp_path)
    with Target(path, target_path("forker.py"), 1.5, 0.15,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", 499, "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        assert rec.finish()[0] == 0
        t.rest_of_output()
    stacks = parse_folded(folded)
    # 1.5 s of the parent's CPU time (forker.py) at 499 Hz: about 750
    assert_sampled_cpu(function_samples(stacks, "parent_work"), 1.5, 499)
    for name in ("forked_child_work", "execd_child_work", "short_child_work"):
        assert function_samples(stacks, name) == 0, name


def test_threads_option_gives_each_thread_a_named_root(tmp_path, refbpf_bin):
    label, path, version = INTERPRETERS[-1]
    folded, out = tmp_path / "out.folded", tmp_path / "p.out"
    with Target(path, target_path("threads.py"), 8, 3) as t:
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "--threads", "--folded", folded, "-o", out])
    stacks = parse_folded(folded)
    roots = {}
    for frames, count in stacks:
        assert frames[0][0].startswith("<thread "), frames[0]
        roots.setdefault(frames[0][0], set()).add(frames[-1][0])
    # worker-N threads each ran thread_work_N, under their own root
    for i in range(3):
        mine = [r for r in roots if r.endswith(" worker-%d>" % i)]
        assert len(mine) == 1, roots
        assert roots[mine[0]] == {"thread_work_%d" % i}, roots
    check = "import pstats,sys; s=pstats.Stats(sys.argv[1]); " \
            "assert sum(1 for k in s.stats if k[2].startswith('<thread ')) == 3"
    assert subprocess.run([path, "-c", check, str(out)]).returncode == 0


def test_several_processes_get_their_own_roots(tmp_path, refbpf_bin):
    label, path, version = INTERPRETERS[-1]
    folded = tmp_path / "out.folded"
    with Target(path, target_path("known_stack.py"), 8) as a, \
            Target(path, target_path("shares.py"), 8) as b:
        run_refbpf(refbpf_bin, ["-p", a.pid, b.pid, "-d", 1.5, "--folded", folded])
        stacks = parse_folded(folded)
        merged = tmp_path / "merged.folded"
        run_refbpf(refbpf_bin, ["-p", a.pid, b.pid, "-d", 1, "--folded", merged,
                                "--merge-processes"])
    for frames, count in stacks:
        leaf = frames[-1][0]
        root = frames[0][0]
        assert root.startswith("<process "), root
        pid = a.pid if leaf == "leaf" else b.pid if leaf.startswith(("share", "spin")) else None
        if pid:
            assert root.startswith("<process %d " % pid), (root, leaf)
    assert all(not f[0][0].startswith("<process") for f, _ in parse_folded(merged))


def test_progress_line_only_on_a_terminal(tmp_path, refbpf_bin):
    label, path, version = INTERPRETERS[-1]
    with Target(path, target_path("shares.py"), 8) as t:
        # On a terminal (script(1) gives refbpf a pty): a live progress line.
        tty = subprocess.run(["script", "-qec", "%s -p %d -d 2 -n 1" % (refbpf_bin, t.pid),
                              "/dev/null"], capture_output=True, timeout=60)
        plain = subprocess.run([refbpf_bin, "-p", str(t.pid), "-d", "1", "-n", "1"],
                               capture_output=True, text=True, timeout=60)
    assert tty.returncode == 0, tty.stdout
    progress = re.findall(rb"\r\x1b\[Krefbpf: (\d+) s, (\d+) samples \((\d+)/s\), (\d+) lost, 1 process",
                          tty.stdout)
    assert len(progress) >= 2, repr(tty.stdout[:500])
    assert int(progress[-1][1]) > 0
    assert plain.returncode == 0 and plain.stderr == "", plain.stderr


def test_every_writes_windows_and_memory_stays_flat(tmp_path, refbpf_bin):
    """--every 2 -d 7: three full windows and the last partial one, each
    output under its window's start time, only the newest --keep kept, and
    refbpf's memory the same after the first windows."""
    label, path, version = INTERPRETERS[-1]
    out = tmp_path / "w"
    out.mkdir()
    with Target(path, target_path("threads.py"), 12, 3) as t:
        given = CpuGiven(t.pid)
        r = subprocess.run([refbpf_bin, "-v", "-p", str(t.pid), "--every", "2", "-d", "7",
                            "-F", "199", "-o", out / "cpu.prof", "--folded", out / "cpu.folded",
                            "--keep", "3"], capture_output=True, text=True, timeout=60)
        share = given.share()
    assert r.returncode == 0, r.stderr[-2000:]
    windows = re.findall(r"^refbpf: window (\d) from (\S+): ([\d.]+) s, (\d+) samples -> (.*)$",
                         r.stdout, re.M)
    assert [w[0] for w in windows] == ["1", "2", "3", "4"], r.stdout
    assert [round(float(w[2])) for w in windows] == [2, 2, 2, 1], r.stdout
    # the CPU the kernel gave the target's 3 busy threads over the windows
    # (a window's own share is not measured: load comes and goes)
    assert_sampled_cpu(sum(int(w[3]) for w in windows), share * sum(float(w[2]) for w in windows),
                       199)
    for n, start, seconds, samples, files in windows:
        assert int(samples) > 0, windows
        stamp = start.replace("-", "").replace(":", "")
        assert files.split() == [str(out / ("cpu-%s.prof" % stamp)),
                                 str(out / ("cpu-%s.folded" % stamp))], files
    kept = sorted(os.listdir(out))
    assert len(kept) == 6 and all(w[1].replace("-", "").replace(":", "") in "".join(kept)
                                  for w in windows[1:]), kept
    last = parse_folded(out / sorted(f for f in kept if f.endswith(".folded"))[-1])
    assert sum(c for _, c in last) == int(windows[-1][3])
    rss = [int(k) for k in re.findall(r"window \d: resident memory (\d+) kB", r.stderr)]
    assert len(rss) == 4 and max(rss[1:]) - rss[1] < 1024, rss


def bpf_links_of(pid):
    """IDs of the BPF programs process `pid` holds attached: the prog_id of
    each BPF link among its fds (raw tracepoints and perf events alike;
    bpftool 7.1's `perf show` misses perf links)."""
    return {int(i["prog_id"]) for i in fd_infos(pid) if "link_type" in i and "prog_id" in i}


def loaded_programs():
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    return {int(m.group(1)) for m in re.finditer(r"^(\d+): ", out, re.M)}


def linked_programs():
    """IDs of the programs every BPF link in the kernel attaches (perf
    events and raw tracepoints alike), whoever holds the link."""
    out = subprocess.run(["bpftool", "link", "show", "-j"], capture_output=True, text=True,
                         check=True).stdout
    return {int(l["prog_id"]) for l in json.loads(out or "[]") if "prog_id" in l}


def test_kill_9_leaves_no_bpf_program_or_perf_event(tmp_path, refbpf_bin):
    if not shutil.which("bpftool"):
        pytest.skip("skipped: bpftool not installed")
    label, path, version = INTERPRETERS[-1]
    with Target(path, target_path("shares.py"), 10) as t:
        rec = subprocess.Popen([refbpf_bin, "-p", str(t.pid)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        held = set()
        while time.monotonic() < deadline and len(held) < 2:
            time.sleep(0.2)
            held = bpf_links_of(rec.pid)
        programs, linked = loaded_programs(), linked_programs()
        rec.kill()
        rec.wait()
    # the sampler (one program on every CPU's perf event) and the exec
    # tracepoint
    assert len(held) >= 2 and held <= programs, (held, programs)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and held & loaded_programs():
        time.sleep(0.2)
    assert not held & loaded_programs(), "left behind: %s" % (held & loaded_programs())
    # the kernel's own list of links, which showed them while refbpf ran:
    # none, held by anyone, still attaches them
    assert held <= linked, (held, linked)
    assert not held & linked_programs(), "still linked: %s" % (held & linked_programs())


def target_layouts(pid):
    """The `targets` map of refbpf process `pid`: {tgid: struct py_layout}."""
    for info in fd_infos(pid):
        if "map_id" not in info:
            continue
        map_id = info["map_id"].strip()
        show = json.loads(subprocess.run(["bpftool", "map", "show", "id", map_id, "-j"],
                                         capture_output=True, text=True, check=True).stdout)
        if show.get("name") != "targets":
            continue
        dump = json.loads(subprocess.run(["bpftool", "map", "dump", "id", map_id, "-j"],
                                         capture_output=True, text=True, check=True).stdout)
        return {e["formatted"]["key"]: e["formatted"]["value"] for e in dump}
    raise AssertionError("refbpf %d holds no targets map" % pid)


def test_thread_state_found_through_its_thread_local(python, tmp_path, refbpf_bin):
    """3.12+: BPF finds the thread-local variable holding the current
    thread state below the thread pointer, and then takes a new thread's
    state from there instead of walking the interpreter's thread list."""
    if not shutil.which("bpftool"):
        pytest.skip("skipped: bpftool not installed")
    label, path, version = python
    with Target(path, target_path("tls_tstate.py"), 8) as t:
        tstate, thread_pointer = (int(v, 16) for v in t.lines[-1].split()[1:])
        rec = Recording(refbpf_bin, ["-p", t.pid, "-d", 3, "-F", 499], tmp_path)
        rec.wait_attached()
        time.sleep(1)
        layout = target_layouts(rec.proc.pid)[t.pid]
        rc, _, stderr = rec.finish()
        assert rc == 0, stderr
        below = int(layout["tstate_tls"])
        if version[:2] < (3, 12):
            assert below == 0, "%s has no thread-local thread state" % label
            return
        assert below, "not found: %r" % layout
        with open("/proc/%d/mem" % t.pid, "rb") as mem:
            mem.seek(thread_pointer - below)
            held = int.from_bytes(mem.read(8), "little")
    assert held == tstate, "%#x bytes below the thread pointer: %#x, not %#x" % (
        below, held, tstate)


def program_names(ids):
    progs = json.loads(subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True,
                                      text=True, check=True).stdout)
    return {p["name"] for p in progs if p["id"] in ids}


@pytest.mark.parametrize("children", [False, True], ids=["alone", "with-C"])
def test_fork_and_exit_tracepoints_attached_only_to_follow_children(children, tmp_path,
                                                                    refbpf_bin):
    """Every thread created or ended on the host runs the fork and exit
    programs; only -C (and --all) need them, so without them they are not
    attached (a target's exit then comes from its pidfd)."""
    if not shutil.which("bpftool"):
        pytest.skip("skipped: bpftool not installed")
    label, path, version = INTERPRETERS[-1]
    want = {"on_cpu_sample", "on_process_exec"}
    if children:
        want |= {"on_process_fork", "on_process_exit"}
    with Target(path, target_path("shares.py"), 10) as t:
        rec = subprocess.Popen([refbpf_bin, "-p", str(t.pid)] + (["-C"] if children else []),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            names = set()
            # all attached before the first sample: wait for the sampler
            while time.monotonic() < deadline and "on_cpu_sample" not in names:
                time.sleep(0.2)
                names = program_names(bpf_links_of(rec.pid))
            time.sleep(0.5)
            names = program_names(bpf_links_of(rec.pid))
        finally:
            rec.kill()
            rec.wait()
    # the task iterators (thread names, wall mode's sleeping threads) are
    # loaded before recording; they run only when read, on no event
    assert names - {"list_threads", "list_waiting_threads"} == want, names
