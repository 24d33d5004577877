"""Root tests for thread names: a thread that has exited keeps the name it
had, and Python's own thread names (threading.Thread(name=...)) are shown
beside the OS names in --threads roots, dump, speedscope and pprof; on
every interpreter."""
import gzip
import json
import os
import re
import subprocess

import pytest

from profiling import Recording, Target, go, go_file, parse_folded, target_path

pytestmark = pytest.mark.root

NTHREADS = 3


def start_named_threads(path, tmp_path, seconds=3):
    gofile = go_file(tmp_path)
    t = Target(path, target_path("named_threads.py"), NTHREADS, seconds,
               env=dict(os.environ, REFBPF_TEST_GO=gofile))
    return t, gofile


def announced(lines):
    """{native id: (python name, os name)} from the target's THREAD lines."""
    out = {}
    for line in lines:
        m = re.match(r"THREAD (\d+) (\S+) (\S+)$", line)
        if m:
            out[int(m.group(1))] = (m.group(2), m.group(3))
    return out


def thread_roots(folded):
    """{tid: root label} of a --threads folded file."""
    roots = {}
    for frames, _ in parse_folded(folded):
        m = re.match(r"<thread (\d+) (.*)>$", frames[0][0])
        if m:
            roots[int(m.group(1))] = m.group(2)
    return roots


def test_exited_threads_keep_their_names(python, tmp_path, refbpf_bin):
    """Wall mode: a thread's time off CPU is added when it comes back, which
    refbpf learns later, often after the thread has exited: its root still
    carries the name it had (its OS name when it blocked), never '?'."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    t, gofile = start_named_threads(path, tmp_path)
    with t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "--mode", "wall", "--threads", "-d", 30,
                                     "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        t.wait_for("DONE", 30)
        rc, stdout, stderr = rec.finish()
        lines = t.rest_of_output()
    assert rc == 0, stderr[-2000:]
    threads = announced(lines)
    roots = thread_roots(folded)
    shorts = {tid: names for tid, names in threads.items() if names[1].startswith("os-short-")}
    assert len(shorts) == NTHREADS, lines
    for tid, (py_name, os_name) in shorts.items():
        assert tid in roots, "thread %d (%s) has no root: %r" % (tid, os_name, roots)
        assert os_name in roots[tid], "thread %d: %r" % (tid, roots[tid])
    assert not [r for r in roots.values() if r == "?"], roots
