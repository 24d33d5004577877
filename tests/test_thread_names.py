"""Root tests for thread names: a thread that has exited keeps the name it
had, and Python's own thread names (threading.Thread(name=...)) are shown
beside the OS names in --threads roots, dump, speedscope and pprof; on
every interpreter."""
import json
import os
import re
import select
import subprocess
import time

import pytest

from profiling import Recording, Target, go, go_file, parse_folded, target_path

pytestmark = pytest.mark.root

NTHREADS = 3


def start_named_threads(path, tmp_path, seconds=0.5):
    """named_threads.py; its running threads spin `seconds` of CPU time
    each (one after another under a GIL)."""
    gofile = go_file(tmp_path)
    t = Target(path, target_path("named_threads.py"), NTHREADS, seconds,
               env=dict(os.environ, REFBPF_TEST_GO=gofile))
    return t, gofile


def read_until(t, word, timeout=60):
    """The target's lines up to and including `word`, read straight from
    its pipe: several lines arrive at once, which select() on a buffered
    reader would not see (nothing is buffered yet: READY came alone)."""
    fd = t.proc.stdout.fileno()
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
            if ("\n%s\n" % word).encode() in b"\n" + data:
                lines = data.decode().splitlines()
                t.lines.extend(lines)
                return lines
    raise AssertionError("target did not print %s; got %r" % (word, data))


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
        read_until(t, "DONE")
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


def expected_label(py_name, os_name):
    """The documented format: the Python name beside the OS name, or alone
    when the OS name is it or its start (3.14+ cut it to 15 bytes)."""
    if py_name.startswith(os_name):
        return py_name
    return "%s (OS: %s)" % (py_name, os_name)


def running_threads(threads):
    return {tid: names for tid, names in threads.items() if not names[1].startswith("os-short-")}


def test_python_thread_names_in_roots_speedscope_pprof_and_raw(python, tmp_path, refbpf_bin):
    """--threads roots, speedscope profile names and pprof labels carry
    each thread's Python name beside its OS name, a Python rename included,
    and a raw file keeps them for `refbpf report`."""
    from test_formats import decode_pprof
    label, path, version = python
    folded, speedscope = tmp_path / "out.folded", tmp_path / "out.json"
    pprof, raw = tmp_path / "out.pb.gz", tmp_path / "out.raw"
    t, gofile = start_named_threads(path, tmp_path)
    with t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "--threads", "-F", 200, "-d", 30,
                                     "--folded", folded, "--speedscope", speedscope,
                                     "--pprof", pprof, "--raw", raw], tmp_path)
        rec.wait_attached()
        go(gofile)
        rc, stdout, stderr = rec.finish()
        lines = t.rest_of_output()
    assert rc == 0, stderr[-2000:]
    threads = running_threads(announced(lines))
    assert len(threads) == NTHREADS + 2, lines
    own = [tid for tid, (py, _) in threads.items() if py == "py-own-os-name-is-long"][0]
    if version >= (3, 14):
        # Python named the OS thread itself: the Python name alone
        assert threads[own][1] == "py-own-os-name-"[:15], threads[own]
    roots = thread_roots(folded)
    for tid, (py_name, os_name) in threads.items():
        assert roots.get(tid) == expected_label(py_name, os_name), (tid, roots.get(tid))
    doc = json.loads(speedscope.read_text())
    names = {p["name"] for p in doc["profiles"]}
    for tid, (py_name, os_name) in threads.items():
        want = "PID %d %s (tid %d)" % (t.pid, expected_label(py_name, os_name), tid)
        assert want in names, (want, sorted(names))
    prof = decode_pprof(pprof)
    by_tid = {}
    for s in prof["samples"]:
        by_tid.setdefault(s["labels"].get("tid"), set()).add(s["labels"].get("python_thread_name"))
    for tid, (py_name, os_name) in threads.items():
        assert by_tid.get(tid) == {py_name}, (tid, by_tid.get(tid))
    again = tmp_path / "again.folded"
    r = subprocess.run([refbpf_bin, "report", raw, "--threads", "--folded", again],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert thread_roots(again) == roots


def test_dump_shows_python_thread_names(python, tmp_path, refbpf_bin):
    """dump: each thread's Python name (JSON python_name, and the text
    line's label), the main thread's "MainThread" included."""
    label, path, version = python
    # running while dumped: killed long before they are done
    t, gofile = start_named_threads(path, tmp_path, seconds=600)
    with t:
        go(gofile)
        read_until(t, "DONE")
        r = subprocess.run([refbpf_bin, "dump", "-p", str(t.pid), "--json"], capture_output=True,
                           text=True, timeout=60)
        text = subprocess.run([refbpf_bin, "dump", "-p", str(t.pid)], capture_output=True,
                              text=True, timeout=60)
        lines = t.lines[:]
    assert r.returncode == 0 and text.returncode == 0, r.stderr + text.stderr
    threads = running_threads(announced(lines))
    [proc] = json.loads(r.stdout)
    got = {th["tid"]: (th["python_name"], th["name"]) for th in proc["threads"]}
    assert got[t.pid][0] == "MainThread", got
    for tid, (py_name, os_name) in threads.items():
        assert got.get(tid) == (py_name, os_name), (tid, got.get(tid))
        assert re.search(r"^Thread %d %s (running|sleeping)$" % (
            tid, re.escape(expected_label(py_name, os_name))), text.stdout, re.M), text.stdout


def test_thread_named_after_its_first_samples_gets_its_name(python, tmp_path, refbpf_bin):
    """A thread sampled before Python names it (started with _thread, named
    1.5 s later through threading) and ended before the recording: refbpf
    reads the names again while a running thread has none, so its root
    carries the Python name it took."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    gofile = go_file(tmp_path)
    with Target(path, target_path("late_named_thread.py"), 1.5, 0.5,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "--threads", "-F", 200, "-d", 30,
                                     "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        lines = read_until(t, "DONE")
        rc, stdout, stderr = rec.finish()
    assert rc == 0, stderr[-2000:]
    tid = [int(line.split()[1]) for line in lines if line.startswith("NAMED ")][0]
    roots = thread_roots(folded)
    assert tid in roots, (tid, roots)
    assert roots[tid].startswith("late-named"), roots[tid]
