"""Root integration tests: a code object's address reused by another one
never gets the first one's file, name or lines (tests/targets/code_reuse.py).

Each part of the target measures its own CPU time; the samples refbpf puts
on that part's file and hot line must match it. A profiler that takes the
new code object for the old one puts them all on the first.
"""
import os

import pytest

from kernel_times import assert_sampled_cpu
from profiling import Recording, Target, go, go_file, parse_folded, target_path

pytestmark = pytest.mark.root

RATE = 499


def record_reuse(refbpf_bin, python, tmp_path, *args):
    """Run code_reuse.py with args under refbpf; (stacks, runs) with runs
    [(label, cpu seconds, code address, hot line)]."""
    folded = tmp_path / "out.folded"
    gofile = go_file(tmp_path)
    env = dict(os.environ, REFBPF_TEST_GO=gofile, PYTHONDONTWRITEBYTECODE="1")
    with Target(python, target_path("code_reuse.py"), *args, env=env) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-F", RATE, "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        lines = t.rest_of_output(timeout=120)
        rc, stdout, stderr = rec.finish()
    assert rc == 0, stderr[-3000:]
    assert "DONE" in lines, lines
    runs = []
    for line in lines:
        if line.startswith("RAN "):
            label, cpu, addr, hot = line.split()[1:]
            runs.append((label, float(cpu), addr, int(hot)))
    return parse_folded(folded), runs


def is_at(frame, filename, line):
    """A frame in `filename` (a path's base name or a pseudo-file such as
    <string>) at `line`."""
    return frame[1] is not None and frame[2] == line and (
        frame[1] == filename or os.path.basename(frame[1]) == filename)


def samples_at(stacks, filename, line, leaf):
    """Samples with a frame at filename:line: the innermost one, or any."""
    return sum(count for frames, count in stacks if frames and (
        is_at(frames[-1], filename, line) if leaf else any(is_at(f, filename, line) for f in frames)))


def check_shares(stacks, runs, where, leaf=True):
    """Each label's samples on its own file and line (the innermost frame's,
    or any frame's) match its CPU time. On a busy machine a CPU timer
    catches a target sharing its CPU at less than its CPU time (0.47 to
    0.85 of it measured under two CPU hogs), the same for every label of
    one run: each label is held to the run's own density of samples per
    CPU second, which a label given another's samples, or none, leaves."""
    cpu, place = {}, {}
    for label, seconds, addr, hot in runs:
        cpu[label] = cpu.get(label, 0.0) + seconds
        place[label] = where(label, hot)
    addrs = {}
    for label, seconds, addr, hot in runs:
        addrs.setdefault(addr, set()).add(label)
    assert any(len(labels) > 1 for labels in addrs.values()), \
        "no code address was reused: the test proves nothing (%r)" % addrs
    got = {label: samples_at(stacks, *place[label], leaf) for label in cpu}
    # every label's CPU time at least 0.4 sampled, as kernel_times asks
    assert_sampled_cpu(sum(got.values()), sum(cpu.values()), RATE)
    density = sum(got.values()) / sum(cpu.values())
    report = []
    bad = []
    for label in sorted(cpu):
        expected = cpu[label] * density
        report.append("%s at %s:%d: %d samples, %.0f expected at the run's %.0f per CPU second" %
                      ((label,) + place[label] + (got[label], expected, density)))
        if not 0.6 * expected - 5 <= got[label] <= 1.4 * expected + 5:
            bad.append(label)
    assert not bad, "\n".join(report)


def test_modules_with_identical_bodies(python, tmp_path, refbpf_bin):
    """mod_0 ... mod_5 have one body; each <module> code object is freed
    when its import ends, and the next one takes its address."""
    label, path, version = python
    stacks, runs = record_reuse(refbpf_bin, path, tmp_path, "modules", tmp_path, 6, 0.2)
    assert len(runs) == 6, runs
    check_shares(stacks, runs, lambda label, line: (label + ".py", line), leaf=False)


def test_exec_of_sources_that_differ_in_lines_only(python, tmp_path, refbpf_bin):
    """One file name (<string>), name (<module>) and first line (1) for
    every source; each variant's hot line is its own."""
    label, path, version = python
    stacks, runs = record_reuse(refbpf_bin, path, tmp_path, "exec", 3, 0.05)
    assert len(runs) == 12, runs
    check_shares(stacks, runs, lambda label, hot: ("<string>", hot))


def test_same_function_in_three_files_in_turn(python, tmp_path, refbpf_bin):
    """file_a.py, file_b.py and file_c.py each define work() at line 1;
    loaded, run and freed in turn (their file name objects too), file_b's
    twice and file_c's three times as long as file_a's."""
    label, path, version = python
    stacks, runs = record_reuse(refbpf_bin, path, tmp_path, "files", tmp_path, 3, 0.06)
    assert len(runs) == 9, runs
    check_shares(stacks, runs, lambda label, hot: (label, hot))
