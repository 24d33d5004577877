"""Root tests: refbpf survives whatever the target does, and says what it
lost. Targets that fork thousands of children or churn threads while being
profiled (with -C), recursion 5000 deep, and a consumer stopped long
enough for the ring buffer to fill: lost samples are counted and
reported, and the target is never slowed by it."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import ROOT
from kernel_times import (CpuGiven, asleep, assert_sampled, assert_sampled_cpu, process_cpu_seconds,
                          recorded_seconds, thread_times)
from profiling import Recording, Target, go, go_file, parse_folded, run_refbpf, target_path
from pythons import find_interpreters

pytestmark = pytest.mark.root

PYTHON = find_interpreters()[-1]


@pytest.mark.parametrize("mode", ["forks", "threads"])
def test_churning_target_with_children_followed(tmp_path, refbpf_bin, mode):
    label, path, version = PYTHON
    folded = tmp_path / "out.folded"
    gofile = go_file(tmp_path)
    with Target(path, target_path("churn.py"), mode, 4,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(refbpf_bin, ["-C", "-p", t.pid, "-F", "499", "--folded", folded],
                        tmp_path)
        rec.wait_attached()
        go(gofile)
        rc, stdout, stderr = rec.finish()
        made = int(t.wait_for("MADE", 30).split()[1])
        cpu = process_cpu_seconds(t.pid)    # exited, not yet reaped
    assert rc == 0, stderr[-2000:]
    assert made > 100, made     # it really churned: hundreds of forks or threads
    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    # the parent's loop holds the samples (its own lines, os.fork, the
    # thread starts), with the pure-Python part of it among them
    in_main = sum(c for frames, c in stacks if any(f[0] == "main" for f in frames))
    work = sum(c for frames, c in stacks if any(f[0] == "churn_work" for f in frames))
    # the parent's own samples (under its root when children were seen too)
    # against the CPU time the kernel gave it: a parent that runs in bursts
    # shorter than the sampling period (fork, wait) is sampled fairly only on
    # average (0.76-0.93 of its CPU time measured on a busy machine)
    own = sum(c for frames, c in stacks if not frames[0][0].startswith("<process ") or
              frames[0][0].startswith("<process %d " % t.pid))
    assert cpu > 0 and own >= 0.5 * cpu * 499, "%d samples of %.2f CPU seconds" % (own, cpu)
    assert in_main > 0.5 * total and work > 0, (in_main, work, total)
    assert "PID %d  Python" % t.pid in stdout, stdout[:2000]
    if mode == "forks":
        # every child, all forked while refbpf followed the parent, was seen
        # and came and went: the header counts them all, each listed below
        header = stdout.splitlines()[0]
        m = re.search(r"\) and (\d+) more;", header)
        named = header.count("PID ")
        listed = re.findall(r"^  PID (\d+)  Python .*  exited during recording$", stdout, re.M)
        assert m and named + int(m.group(1)) == made + 1, (made, header)
        assert len(listed) == made + 1, (made, len(listed), stdout[:2000])


def test_recursion_5000_deep(tmp_path, refbpf_bin):
    label, path, version = PYTHON
    folded = tmp_path / "out.folded"
    with Target(path, target_path("churn.py"), "recurse", 4) as t:
        given = CpuGiven(t.pid)
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", "199", "--folded", folded])
        stacks = parse_folded(folded)
        deep = [(frames, c) for frames, c in stacks if frames[0][0] == "[truncated]"]
        assert_sampled(sum(c for _, c in deep), given, r.stdout, 199)
    for frames, _ in deep:
        assert frames[-1][0] in ("churn_work", "deep"), frames[-3:]
        assert len(frames) - 1 == 1024      # the innermost REFBPF_MAX_FRAMES kept


def ring_buffer_bytes(name):
    """A ring buffer size bound (RINGBUF_MIN_BYTES, RINGBUF_MAX_BYTES), as
    bpf/abi.h defines it."""
    with open(os.path.join(ROOT, "bpf", "abi.h")) as f:
        m = re.search(r"#define %s \((\d+)u << (\d+)\)" % name, f.read())
    assert m, "%s not found in bpf/abi.h" % name
    return int(m.group(1)) << int(m.group(2))


def possible_cpus():
    """The CPUs libbpf sizes per-CPU things by (/sys/.../cpu/possible)."""
    with open("/sys/devices/system/cpu/possible") as f:
        return sum(int(b) - int(a) + 1 if b else 1
                   for a, _, b in (r.partition("-") for r in f.read().strip().split(",")))


def mapped_ring_kib(pid):
    """The resident KiB of the BPF maps refbpf has mapped: its ring buffer
    (the kernel maps the ring's data twice) and nothing else this size."""
    kib, in_map = 0, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                in_map = line.rstrip().endswith("anon_inode:bpf-map")
            elif in_map and line.startswith("Rss:"):
                kib += int(line.split()[1])
    return kib


def test_stopped_consumer_loses_samples_counted_never_slows_target(tmp_path, refbpf_bin):
    """refbpf is stopped (SIGSTOP) for 5 s while sampling a 100-frame stack
    at 10 kHz (about 30 MB/s of samples): the ring buffer fills, BPF drops
    what does not fit and counts it, the report says how many; the target
    runs at full speed throughout."""
    label, path, version = PYTHON
    with Target(path, target_path("known_stack.py"), 14, 100) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", "10000", "-d", "8"], tmp_path)
        rec.wait_attached()
        given = CpuGiven(t.pid)
        time.sleep(1.5)
        before = thread_times(t.pid)
        os.kill(rec.proc.pid, signal.SIGSTOP)
        time.sleep(5)
        os.kill(rec.proc.pid, signal.SIGCONT)
        [(cpu, runq, slept)] = asleep(before, thread_times(t.pid)).values()
        _, out, err = rec.finish(timeout=60)
        share = given.share()
    assert rec.proc.returncode == 0, err[-2000:]
    cpu_total = share * recorded_seconds(out)
    lost = int(re.search(r"^Samples lost: (\d+)", out, re.M).group(1))
    samples = int(re.search(r"; (\d+) samples,", out).group(1))
    rate = int(re.search(r" s at (\d+) Hz", out).group(1))
    # every sample the target's CPU time warrants was either delivered or
    # counted lost
    assert_sampled_cpu(samples + lost, cpu_total, rate)
    # while refbpf was stopped, all but what the ring buffer holds was
    # lost: at most RINGBUF_BYTES of 100-frame samples (24 bytes a frame at
    # least);
    # while it ran, nothing was
    held = ring_buffer_bytes("RINGBUF_MAX_BYTES") // (100 * 24)
    assert lost > 0 and lost >= 0.4 * cpu * rate - held, (lost, cpu, held, out[:1000])
    assert_sampled_cpu(samples, cpu_total - cpu, rate, what="the target while refbpf ran")
    # the busy target never waited for refbpf, which could not read: the
    # kernel says it was on a CPU or waiting for one, never asleep
    assert slept < 0.02 * (cpu + runq + slept), (cpu, runq, slept)


@pytest.mark.parametrize("rate", [100, 1000])
def test_ring_buffer_sized_to_the_rate_loses_nothing(tmp_path, refbpf_bin, rate):
    """The ring buffer's pages are resident all run long, so refbpf sizes it
    to the rate: about a second of 2-KiB samples from every CPU, a power of
    two between RINGBUF_MIN_BYTES and RINGBUF_MAX_BYTES. What refbpf has
    mapped is that and no more, and a stack of 1,000 frames (32 KiB a
    sample, 16 times the planned size) still loses nothing."""
    label, path, version = PYTHON
    want = ring_buffer_bytes("RINGBUF_MIN_BYTES")
    while want < rate * possible_cpus() * 2048 and want < ring_buffer_bytes("RINGBUF_MAX_BYTES"):
        want *= 2
    with Target(path, target_path("known_stack.py"), 14, 1000) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", rate, "-d", "5"], tmp_path)
        rec.wait_attached()
        given = CpuGiven(t.pid)
        time.sleep(3)
        kib = mapped_ring_kib(rec.proc.pid)
        _, out, err = rec.finish(timeout=60)
        cpu_total = given.share() * recorded_seconds(out)
    assert rec.proc.returncode == 0, err[-2000:]
    said = re.search(r"^refbpf: ring buffer (\d+) KiB \(%d Hz on (\d+) CPUs\)$" % rate, err, re.M)
    assert said and int(said.group(1)) * 1024 == want, (want, err[-2000:])
    # the data twice, the ring's header pages and the other maps' pages
    # (mapped .bss/.rodata): a few dozen KiB
    assert 2 * want // 1024 <= kib <= 2 * want // 1024 + 256, (kib, want)
    assert re.search(r"^Samples lost: 0;", out, re.M), out[:1000]
    samples = int(re.search(r"; (\d+) samples,", out).group(1))
    assert_sampled_cpu(samples, cpu_total, rate)


def test_target_gone_before_bpf_watches_it_still_ends_recording(tmp_path, refbpf_bin):
    """The target dies after refbpf found its interpreter but before BPF
    watched it (here: while the BPF object loads), so no exit event can
    ever come: refbpf notices from /proc, says so and ends instead of
    waiting forever."""
    label, path, version = PYTHON
    with Target(path, target_path("known_stack.py"), 60) as t:
        rec = subprocess.Popen([refbpf_bin, "-vv", "-p", str(t.pid), "-o", str(tmp_path / "p.out")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for line in rec.stderr:     # -vv: libbpf's log begins as BPF loads
                if line.startswith("libbpf: loading object"):
                    break
            os.kill(t.pid, signal.SIGKILL)
            killed = time.monotonic()
            out, err = rec.communicate(timeout=30)
        finally:
            if rec.poll() is None:
                rec.kill()
        ended_after = time.monotonic() - killed
    assert "libbpf: loading object" in line, line
    assert ended_after < 15, ended_after   # two liveness checks, 5 s apart
    assert rec.returncode == 0, err[-2000:]
    assert re.search(r"PID %d .* exited during recording" % t.pid, out), out[:2000]


def test_thread_per_request_target_merges_threads_past_the_limit(tmp_path, refbpf_bin):
    """A thread per request: past --thread-limit a process's new threads
    share one <more threads> entry. No sample is lost by it, the header
    still counts every thread, and every output stays bounded."""
    label, path, version = PYTHON
    folded, raw = tmp_path / "out.folded", tmp_path / "out.raw"
    speedscope = tmp_path / "out.json"
    # 400 requests of 3 ms of CPU each, however long a busy machine takes
    with Target(path, target_path("churn.py"), "requests", 60, 400) as t:
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-F", "999", "--thread-limit", "20", "--threads",
                                    "--folded", folded, "--raw", raw, "--speedscope", speedscope])
        made = int(t.rest_of_output()[-1].split()[1])
    assert made == 400, made
    header = r.stdout.splitlines()[0]
    m = re.search(r"; (\d+) samples, (\d+) threads \((\d+) merged as <more threads>\)$", header)
    assert m, header
    samples, threads, merged = map(int, m.groups())
    stacks = parse_folded(folded)
    assert sum(c for _, c in stacks) == samples, header
    roots = {}
    for frames, c in stacks:
        roots[frames[0][0]] = roots.get(frames[0][0], 0) + c
    own = [root for root in roots if root.startswith("<thread ")]
    # the main thread and the first requests have their own entry, no more
    assert 2 <= len(own) <= 20, sorted(roots)
    assert threads == len(own) + merged and merged > 100, (header, len(own))
    # the merged requests' time is still there, under its entry
    in_merged = sum(c for frames, c in stacks if frames[0][0] == "<more threads>"
                    and any(f[0] == "request_work" for f in frames))
    assert in_merged > 0.3 * samples, (in_merged, samples)
    assert len(json.load(open(speedscope))["profiles"]) == len(own) + 1
    # a raw file read back says the same
    again = run_refbpf(refbpf_bin, ["report", raw])
    assert again.stdout.splitlines()[0] == header, (again.stdout[:300], header)
