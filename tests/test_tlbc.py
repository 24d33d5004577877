"""Free-threaded 3.14+: thread-local bytecode. Each thread other than the
main one runs its own copy of a function's bytecode (co_tlbc, by the
frame's tlbc_index), and a frame's instruction pointer points into that
copy: its line is taken against the copy, not against the code object's
own bytecode. PYTHON_TLBC=0 makes every thread share the code object's
own. 3.13t has no thread-local bytecode: there the same holds with one
copy."""
import os
import subprocess
import time

import pytest

from conftest import tool_path
from kernel_times import assert_sampled_cpu, thread_times
from profiling import Target, markers, parse_folded, run_refbpf, target_path
from pythons import find_interpreters

FREE_THREADED = [i for i in find_interpreters() if i[0].endswith("t")]
SCRIPT = target_path("tlbc_threads.py")
LINES = markers(SCRIPT)


def probe(pid, code):
    """tlbc_probe's view of work()'s bytecode in memory: (layout, {index:
    copy}, {thread id: frame}), once both threads' frames are there."""
    deadline = time.monotonic() + 20
    while True:
        r = subprocess.run([tool_path("tlbc_probe"), str(pid), code], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        rows = [l.split() for l in r.stdout.splitlines()]
        layout = dict(kv.split("=") for kv in rows[0][1:])
        entries = {int(row[1]): int(row[2], 16) for row in rows if row[0] == "entry"}
        frames = {}
        for row in rows:
            if row[0] == "frame":
                f = dict(kv.split("=") for kv in row[1:])
                frames[int(f["thread"], 16)] = {k: int(v, 0) for k, v in f.items()}
        if len(frames) == 2 or layout["tlbc"] == "0" or time.monotonic() > deadline:
            return layout, entries, frames
        time.sleep(0.2)


@pytest.mark.root
@pytest.mark.parametrize("tlbc", ["1", "0"])
@pytest.mark.parametrize("python", FREE_THREADED, ids=[i[0] for i in FREE_THREADED])
def test_each_thread_copy_gives_its_own_lines(python, tlbc, tmp_path, refbpf_bin):
    label, path, version = python
    folded = tmp_path / "tlbc.folded"
    with Target(path, SCRIPT, env=dict(os.environ, PYTHON_TLBC=tlbc)) as t:
        _, code, a, b = t.lines[-1].split()
        threads = (int(a, 16), int(b, 16))
        layout, entries, frames = probe(t.pid, code)
        main = int(layout["main"], 16)
        before = thread_times(t.pid)
        run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 3, "-F", 200, "--folded", folded])
        cpu = sum(now.cpu - before[tid].cpu for tid, now in thread_times(t.pid).items()
                  if tid in before)

    # memory: which copy each thread runs
    if version[:2] < (3, 14):
        assert layout["tlbc"] == "0", layout
    else:
        assert layout["tlbc"] == "1", layout
        assert entries[0] == main, (entries, layout)
        assert set(frames) == set(threads), (frames, threads)
        if tlbc == "1":
            # a copy each, neither the code object's own
            indices = {frames[th]["index"] for th in threads}
            copies = {frames[th]["copy"] for th in threads}
            assert 0 not in indices and len(indices) == 2, frames
            assert main not in copies and len(copies) == 2, frames
            assert all(entries[frames[th]["index"]] == frames[th]["copy"] for th in threads)
        else:
            # one shared copy: the code object's own
            assert set(entries) == {0}, entries
            assert all(frames[th]["index"] == 0 and frames[th]["copy"] == main
                       for th in threads), frames
        for th in threads:
            f = frames[th]
            # the instruction lies in the thread's copy, and what BPF
            # records is the same instruction in the code object's own
            assert f["in_copy"] == 1, f
            assert f["shared"] == main + (f["instr"] - f["copy"]), f

    # the profile: each thread's lines, exact (file:line per frame)
    stacks = parse_folded(folded)
    mine = {"thread_a": {LINES["loop"], LINES["branch"], LINES["hot_a"]},
            "thread_b": {LINES["loop"], LINES["branch"], LINES["hot_b"]}}
    seen = {"thread_a": {}, "thread_b": {}}
    for frames_, n in stacks:
        names = [f[0] for f in frames_]
        for caller in mine:
            if caller in names and "work" in names[names.index(caller):]:
                work = frames_[names.index("work", names.index(caller))]
                assert work[1] == SCRIPT, work
                seen[caller][work[2]] = seen[caller].get(work[2], 0) + n
    for caller, lines in seen.items():
        assert set(lines) <= mine[caller], (
            "%s's samples of work() on lines %r; its loop is on %r" % (
                caller, sorted(lines), sorted(mine[caller])))
    hot = seen["thread_a"].get(LINES["hot_a"], 0) + seen["thread_b"].get(LINES["hot_b"], 0)
    assert hot >= 0.3 * sum(sum(v.values()) for v in seen.values()), seen
    # as many samples as the CPU time the kernel gave the process warrants
    assert_sampled_cpu(sum(sum(v.values()) for v in seen.values()), cpu, 200,
                       what="thread_a and thread_b")


def test_shared_instruction_from_each_copy():
    """No root, no 3.14t: the walk's reading of a thread's copy
    (bpf/py_walk.h, BPF's and refbpf dump's) on a code object, co_tlbc and
    frame laid out in tlbc_probe's own memory: a thread's copy gives the
    same instruction in the code object's own bytecode; index 0 is that
    bytecode; a missing copy, an instruction outside its copy, a bad index
    or no co_tlbc give no instruction, never another one; a layout without
    LAYOUT_TLBC reads nothing and keeps the pointer."""
    r = subprocess.run([tool_path("tlbc_probe"), "--self"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stdout + r.stderr
