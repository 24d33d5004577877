"""Root tests for `refbpf dump`: every thread's current stack, sleeping
threads included, with exact lines, thread IDs and names, as text and as
JSON; on every interpreter."""
import json
import os
import subprocess
import time

import pytest

from profiling import Target, markers, target_path
from pythons import find_interpreters

INTERPRETERS = [i for i in find_interpreters() if i[2] >= (3, 8)]
HOSTILE = 'evil"</script>\n\x1b[2J'

pytestmark = pytest.mark.root


def test_dump_json_every_thread_with_lines(python, refbpf_bin):
    label, path, version = python
    script = target_path("dump_target.py")
    lines = markers(script)
    with Target(path, script, 20) as t:
        # READY is printed just before the main thread joins: a dump that
        # finds it still running (or runnable: preempted on a busy machine)
        # came too early, and is taken again
        for attempt in range(20):
            r = subprocess.run([refbpf_bin, "dump", "-p", str(t.pid), "--json"],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            [proc] = json.loads(r.stdout)
            if not [th for th in proc["threads"] if th["tid"] == t.pid][0]["running"]:
                break
            time.sleep(0.05)
        tids = {int(x) for x in os.listdir("/proc/%d/task" % t.pid)}
    assert proc["pid"] == t.pid and proc["python"].startswith("%d.%d" % version[:2])
    threads = proc["threads"]
    assert {th["tid"] for th in threads} <= tids and len(threads) == 4, threads
    by_inner = {th["frames"][0]["name"]: th for th in threads if th["frames"]}
    sleeper = by_inner["sleeper"]
    assert sleeper["name"] == "sleeper" and not sleeper["running"]
    assert sleeper["frames"][0]["line"] == lines["sleep"]
    assert sleeper["frames"][0]["file"] == str(script)
    assert by_inner["spinner"]["frames"][0]["line"] == lines["spin"]
    assert by_inner[HOSTILE]["frames"][0]["line"] == lines["hostile"]
    main = [th for th in threads if th["tid"] == t.pid][0]
    assert not main["running"], main
    names = [f["name"] for f in main["frames"]]
    assert names[-2:] == ["main", "<module>"], names
    assert [f["line"] for f in main["frames"] if f["name"] == "main"] == [lines["join"]]


def test_dump_text_names_threads_and_escapes(refbpf_bin):
    label, path, version = INTERPRETERS[-1]
    script = target_path("dump_target.py")
    lines = markers(script)
    with Target(path, script, 20) as t:
        r = subprocess.run([refbpf_bin, "dump", "-p", str(t.pid)], capture_output=True,
                           text=True, timeout=60)
        with open("/proc/%d/comm" % t.pid) as f:
            comm = f.read().rstrip("\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("Process %d: " % t.pid), out
    # the main thread: its Python name beside its OS name, as the kernel has it
    assert "Thread %d MainThread (OS: %s)" % (t.pid, comm) in out, out
    assert ") sleeping\n    sleeper (%s:%d)" % (script, lines["sleep"]) in out, out
    assert "\x1b" not in out and 'evil"</script>\\n\\x1b[2J (' in out, out


def test_dump_refuses_bad_targets(refbpf_bin):
    r = subprocess.run([refbpf_bin, "dump", "-p", "999999"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == "refbpf: PID 999999: no such process"
    sh = subprocess.Popen(["sleep", "5"])
    try:
        r = subprocess.run([refbpf_bin, "dump", "-p", str(sh.pid)], capture_output=True,
                           text=True)
    finally:
        sh.kill()
        sh.wait()
    assert r.returncode == 1 and "not a Python process" in r.stderr, r.stderr


def test_dump_numbers_interpreters_main_first(refbpf_bin):
    """The main interpreter is 0, a sub-interpreter 1 (CPython lists them
    newest first): the thread running in the sub-interpreter is marked."""
    found = [i for i in INTERPRETERS if i[0].startswith("debian-")] or INTERPRETERS[-1:]
    label, path, version = found[0]
    with Target(path, target_path("subinterp.py"), 10, ready=False) as t:
        time.sleep(1.5)
        r = subprocess.run([refbpf_bin, "dump", "-p", str(t.pid), "--json"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    [proc] = json.loads(r.stdout)
    where = {f["name"]: th["interpreter"] for th in proc["threads"] for f in th["frames"]}
    assert where.get("sub_interpreter_work") == 1 and where.get("main") == 0, proc["threads"]


def dump_json(refbpf_bin, pid, times):
    """`times` dumps of one process in one run of refbpf dump --json."""
    r = subprocess.run([refbpf_bin, "dump", "--json", "-p", ",".join([str(pid)] * times)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    dumps = json.loads(r.stdout)
    assert len(dumps) == times, r.stdout[:2000]
    return dumps


def test_dump_of_a_recursing_thread_never_torn(python, refbpf_bin):
    """py-spy's recursive case: the only thread recurses to depth 20 and
    back, over and over, as 100 dumps (ten runs of ten) look at it. A
    dump read from memory while it runs would show frames of different
    moments: stacks without <module> at the root, or deeper than the
    recursion ever goes. Every stack shown must be one it had, and at
    least 95 of the 100 must be shown (not marked incomplete)."""
    label, path, version = python
    script = target_path("recursive.py")
    lines = markers(script)
    dumps = []
    with Target(path, script) as t:
        for _ in range(10):
            dumps += dump_json(refbpf_bin, t.pid, 10)
    wrong, complete = [], 0
    for d in dumps:
        [thread] = d["threads"]
        frames = thread["frames"]	# innermost first
        if not thread.get("complete", True):
            assert frames == [], thread
            continue
        complete += 1
        root, inner = frames[-1] if frames else None, frames[:-1]
        ok = (root is not None and root["name"] == "<module>" and
              root["line"] in (lines["loop"], lines["while"]) and len(frames) <= 22 and
              not thread["truncated"] and
              all(f["name"] == "recurse" and f["line"] == lines["call"] for f in inner[1:]) and
              all(f["name"] == "recurse" and f["firstlineno"] <= f["line"] <= lines["call"]
                  for f in inner[:1]))
        if not ok:
            wrong.append([(f["name"], f["line"]) for f in frames])
    assert not wrong, "%d of %d dumps show stacks it never had, e.g. %r" % (
        len(wrong), len(dumps), wrong[:3])
    assert complete >= 95, "%d of 100 dumps complete" % complete
