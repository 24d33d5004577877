"""--gil: whether each sample held the GIL, and (wall mode) the time spent
waiting for it, per function and in every output."""
import marshal
import os
import re
import subprocess

import pytest

from kernel_times import asleep, assert_sampled_cpu, thread_times
from profiling import Recording, Target, parse_folded, sample_period_s, target_path
from pythons import find_interpreters



def gil_env(label, on=True):
    """A free-threaded build has a GIL per interpreter too, switched off
    unless something turns it on: PYTHON_GIL=1 does, from the start. GIL
    builds run as they are."""
    if not label.endswith("t"):
        return None
    return dict(os.environ, PYTHON_GIL="1" if on else "0")


def samples_of(stacks, func, leaf=None):
    return sum(c for f, c in stacks if any(x[0] == func for x in f) and
               (leaf is None or f[-1][0] == leaf))


def summary(stdout):
    m = re.search(r"^GIL: held in (\d+) of (\d+) on-CPU samples \([\d.]+%\)(?:; waiting for it: "
                  r"([\d.]+) s)?", stdout, re.M)
    assert m, stdout
    return int(m.group(1)), int(m.group(2)), float(m.group(3) or 0)


def record(refbpf_bin, path, arg, tmp_path, *extra, env=None):
    """refbpf's outputs, and what the kernel says the target's threads
    other than the main one did meanwhile: {tid: (cpu, runq, asleep)}."""
    folded, prof = tmp_path / "gil.folded", tmp_path / "gil.prof"
    with Target(path, target_path("gil_contention.py"), arg, env=env) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-d", 3, "-F", 200, "--gil", "--folded", folded,
                                     "-o", prof] + list(extra), tmp_path)
        rec.wait_attached()
        before = thread_times(t.pid)
        rc, stdout, stderr = rec.finish()
        threads = asleep(before, thread_times(t.pid))
        threads.pop(t.pid, None)
    assert rc == 0, stderr
    r = subprocess.CompletedProcess(rec.proc.args, rc, stdout, stderr)
    with open(prof, "rb") as f:
        stats = marshal.load(f)
    return r, parse_folded(folded), stats, threads


@pytest.mark.root
def test_contended_gil_wait_is_reported(python, tmp_path, refbpf_bin):
    label, path, version = python
    r, stacks, stats, threads = record(refbpf_bin, path, 2, tmp_path, "--mode", "wall",
                                       env=gil_env(label))
    spin = samples_of(stacks, "spin_thread")
    wait = samples_of(stacks, "spin_thread", "<GIL wait>")
    # two threads, one GIL: while one holds it the other sleeps waiting,
    # about half of their time on an idle machine, less on a busy one. The
    # kernel says how long they slept, and how long they waited for a CPU
    # (refbpf counts the wait of one woken in take_gil() as GIL wait, the
    # rest as <preempted>).
    assert len(threads) == 2, threads
    total = sum(sum(t) for t in threads.values())
    slept = sum(t[2] for t in threads.values())
    runq = sum(t[1] for t in threads.values())
    pre = samples_of(stacks, "spin_thread", "<preempted>")
    off = samples_of(stacks, "spin_thread", "<off-CPU>")
    assert slept >= 0.3, "the threads hardly waited for each other: %r" % threads
    assert wait / spin >= slept / total - 0.05, (
        "refbpf: waiting for the GIL %.3f of the time; kernel: asleep %.3f" % (
            wait / spin, slept / total))
    assert abs((wait + pre + off) / spin - (slept + runq) / total) < 0.05, (
        "refbpf: off CPU %.3f of the time; kernel: asleep or on a run queue %.3f" % (
            (wait + pre + off) / spin, (slept + runq) / total))
    held, on_cpu, wait_s = summary(r.stdout)
    assert wait_s == pytest.approx(wait * sample_period_s(200), abs=0.006), r.stdout
    # on CPU, a thread holds the GIL but just after waking in take_gil();
    # those wake-ups are a larger part of the little CPU a busy machine gives
    nogil = sum(c for f, c in stacks if f[-1][0] == "<no GIL>")
    assert held + nogil == on_cpu and held >= 0.75 * on_cpu, r.stdout
    # the per-function columns: spin_thread's row carries the wait
    header = next(l for l in r.stdout.splitlines() if "filename:lineno(function)" in l)
    assert "gil%" in header and "gilwait" in header
    row = next(l for l in r.stdout.splitlines() if l.endswith("(spin_thread)"))
    assert float(row.split()[7]) == pytest.approx(wait * sample_period_s(200), abs=0.006), row
    assert ("~", 0, "<GIL wait>") in stats


@pytest.mark.root
def test_single_thread_does_not_wait(python, tmp_path, refbpf_bin):
    label, path, version = python
    r, stacks, _, threads = record(refbpf_bin, path, 1, tmp_path, "--mode", "wall",
                                   env=gil_env(label))
    spin = samples_of(stacks, "spin_thread")
    assert spin > 100, r.stdout
    assert samples_of(stacks, "spin_thread", "<GIL wait>") <= 0.02 * spin, stacks
    held, on_cpu, _ = summary(r.stdout)
    # enough on-CPU samples to judge: what the spinning thread's CPU time
    # warrants at 200 Hz
    assert_sampled_cpu(on_cpu, sum(cpu for cpu, _, _ in threads.values()), 200,
                       what="the spinning thread")
    assert held >= 0.95 * on_cpu, r.stdout


@pytest.mark.root
def test_code_without_the_gil_is_marked(python, tmp_path, refbpf_bin):
    """hashlib hashes large buffers with the GIL released."""
    label, path, version = python
    r, stacks, stats, threads = record(refbpf_bin, path, "hash", tmp_path, env=gil_env(label))
    on_cpu = samples_of(stacks, "hash_thread")
    # as many as the CPU time the kernel gave the hashing thread warrants
    assert_sampled_cpu(on_cpu, sum(cpu for cpu, _, _ in threads.values()), 200,
                       what="hash_thread")
    assert samples_of(stacks, "hash_thread", "<no GIL>") >= 0.5 * on_cpu, stacks
    assert ("~", 0, "<no GIL>") in stats
    assert "measured with --mode wall" in r.stdout


FREE_THREADED = [i for i in find_interpreters() if i[0].endswith("t")]


@pytest.mark.root
@pytest.mark.parametrize("python", FREE_THREADED, ids=[i[0] for i in FREE_THREADED])
def test_free_threaded_gil_switched_off_is_said(tmp_path, refbpf_bin, python):
    """A free-threaded build whose GIL is off: two threads spin at once,
    and every on-CPU sample says the GIL is switched off (not held, not
    waited for), where the other tests, with PYTHON_GIL=1, see it held."""
    label, path, version = python
    r, stacks, stats, threads = record(refbpf_bin, path, 2, tmp_path,
                                       env=gil_env(label, on=False))
    spin = samples_of(stacks, "spin_thread")
    assert_sampled_cpu(spin, sum(cpu for cpu, _, _ in threads.values()), 200,
                       what="the spinning threads")
    assert samples_of(stacks, "spin_thread", "<GIL disabled>") == spin, stacks
    held, on_cpu, _ = summary(r.stdout)
    assert held == 0 and on_cpu == spin, r.stdout
    assert re.search(r"^GIL: switched off \(free-threaded\) in %d of %d on-CPU samples "
                     r"\(100\.0%%\)$" % (spin, spin), r.stdout, re.M), r.stdout
    assert ("~", 0, "<GIL disabled>") in stats


GIL_RAW = """refbpf-raw 1
meta rate_hz=100 period_s=0.01 duration_s=2 lost=0 mode=wall gil=1
func 0 1 /srv/app.py <module> <module>
func 1 10 /srv/app.py work work
func 2 0 ~ <GIL%20wait> <GIL%20wait>
func 3 0 ~ <no%20GIL> <no%20GIL>
func 4 0 ~ <off-CPU> <off-CPU>
func 5 20 /srv/app.py idle idle
stack 100 1 0 60 0:2,1:11
stack 100 1 0 20 0:2,1:11,3:-1
stack 100 2 0 50 0:2,1:12,2:-1
stack 100 3 0 70 0:2,5:21,4:-1
target 100 0 0 200 3.12.1 python%20app.py !
"""


@pytest.mark.parametrize("mode", ["wall", "cpu"])
def test_gil_figures_are_exact(tmp_path, refbpf_bin, mode):
    """No root: the figures from a raw file whose leaves are known.
    work: 60 samples holding the GIL, 20 without, 50 waiting for it."""
    raw = tmp_path / "gil.raw"
    raw.write_text(GIL_RAW.replace("mode=wall", "mode=" + mode))
    r = subprocess.run([refbpf_bin, "report", str(raw)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith("2.00 s at 100 Hz, %s mode, GIL; 200 samples, 3 threads" % mode), lines
    if mode == "wall":
        assert lines[2] == "GIL: held in 60 of 80 on-CPU samples (75.0%); waiting for it: 0.500 s"
    else:
        assert lines[2] == ("GIL: held in 60 of 80 on-CPU samples (75.0%); time waiting for it "
                            "is off CPU: measured with --mode wall")
    rows = {l.split()[-1]: l.split() for l in lines if l.endswith(")") and ":" in l.split()[-1]}
    work = rows["/srv/app.py:10(work)"]
    assert work[6:8] == ["75.0%", "0.500"], work
    idle = rows["/srv/app.py:20(idle)"]
    assert idle[6:8] == ["-", "0.000"], idle
    module = rows["/srv/app.py:1(<module>)"]
    assert module[6:8] == ["75.0%", "0.500"], module


def test_bad_gil_meta_is_refused(tmp_path, refbpf_bin):
    raw = tmp_path / "gil.raw"
    raw.write_text(GIL_RAW.replace("mode=wall", "mode=idle"))
    r = subprocess.run([refbpf_bin, "report", str(raw)], capture_output=True, text=True)
    assert r.returncode != 0 and "bad mode" in r.stderr, r.stderr
