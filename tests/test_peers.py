"""Root tests built from what other profilers assert about their own test
targets, checked on refbpf's outputs on every interpreter: CPython's
remote-unwinder tests (Lib/test/test_external_inspection.py), py-spy's
tests/scripts and Austin's test/targets. The targets are written here
(tests/targets/peers/), not copied.

Sleeping stacks are compared with the interpreter's own view of them: the
target prints what sys._current_frames() says of every thread once all are
parked (own_view.py), and `refbpf dump` must say exactly that, frame by
frame (function, name, file, line, first line). Stacks on the CPU are
checked from recordings against `# @marker` lines."""
import json
import os
import re
import subprocess
import time

import pytest

from kernel_times import process_cpu_seconds
from profiling import (Recording, Target, go, go_file, markers, parse_folded, run_refbpf,
                       target_path)

pytestmark = pytest.mark.root

PEERS = target_path("peers")
# the peers' helpers (own_view) and wait_go, whatever the target's directory
PYTHONPATH = os.pathsep.join([PEERS, os.path.dirname(PEERS)])


def peer(name):
    return os.path.join(PEERS, name)


def start(path, script, *args, **kw):
    env = dict(os.environ, PYTHONPATH=PYTHONPATH, **kw.pop("env", {}))
    return Target(path, script, *args, env=env, **kw)


def viewed(path, script, *args):
    """A target that prints VIEW, not READY (own_view.py)."""
    return start(path, script, *args, ready=False)


def own_view(t):
    line = t.wait_for("VIEW", 60)
    assert line.startswith("VIEW ["), line
    return json.loads(line[len("VIEW "):])


def dump(refbpf_bin, *pids):
    r = subprocess.run([refbpf_bin, "dump", "--json", "-p"] + [str(p) for p in pids],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def dumped_threads(proc):
    """{tid: (name, frames)} as `refbpf dump --json` gives them, frames
    reduced to the fields the own view has."""
    keys = ("function", "name", "file", "line", "firstlineno")
    return {th["tid"]: (th["name"], [{k: f[k] for k in keys} for f in th["frames"]])
            for th in proc["threads"]}


def comm(pid, tid):
    with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
        return f.read().rstrip("\n")


def assert_same_stacks(view, proc):
    """Every thread the interpreter described, frame for frame; and no
    thread more (the reporting thread has ended)."""
    dumped = dumped_threads(proc)
    assert sorted(dumped) == sorted(s["tid"] for s in view), (dumped.keys(), view)
    for s in view:
        assert dumped[s["tid"]][1] == s["frames"], "thread %s (%s):\nrefbpf: %r\nown view: %r" % (
            s["tid"], s["name"], dumped[s["tid"]][1], s["frames"])


def qualified(version, cls, name):
    return "%s.%s" % (cls, name) if version >= (3, 11) else name


def test_known_threads_and_names(python, refbpf_bin):
    """CPython's test_remote_stack_trace and py-spy's longsleep and
    thread_names: a thread in foo <- baz <- bar <- Thread.run <-
    _bootstrap_inner <- _bootstrap, each at its line; ten named sleeping
    threads; the main thread at its join. Each thread's Python name is
    the one threading gave it, and its OS name the kernel's (comm)."""
    label, path, version = python
    script = peer("known_threads.py")
    lines = markers(script)
    with viewed(path, script) as t:
        view = own_view(t)
        [proc] = dump(refbpf_bin, t.pid)
        names = {s["tid"]: comm(t.pid, s["tid"]) for s in view}
    assert_same_stacks(view, proc)
    stacks = {s["name"]: s["frames"] for s in view}
    foo = stacks["bar-thread"]
    assert [f["function"] for f in foo] == ["foo", "baz", "bar"] + [
        qualified(version, "Thread", n) for n in ("run", "_bootstrap_inner", "_bootstrap")]
    assert [f["line"] for f in foo[:3]] == [lines["sleep"], lines["foo"], lines["baz"]], foo
    assert {s["name"] for s in view} == {"MainThread", "bar-thread"} | {
        "CustomThreadName-%d" % i for i in range(10)}
    python_names = {s["tid"]: s["name"] for s in view}
    for th in proc["threads"]:
        assert th["name"] == names[th["tid"]], (th["tid"], th["name"], names[th["tid"]])
        assert th.get("python_name") == python_names[th["tid"]], (th, python_names)


def test_negative_line_steps(python, refbpf_bin):
    """py-spy's negative_linenumber_offsets: asleep inside a comprehension
    written over several lines, whose line table steps backwards."""
    label, path, version = python
    with viewed(path, peer("negative_lines.py")) as t:
        view = own_view(t)
        [proc] = dump(refbpf_bin, t.pid)
    assert_same_stacks(view, proc)


def test_line_table_longer_than_one_read(python, refbpf_bin):
    """CPython's large line table test: line 3001 of a code object whose
    line table is over 4 KiB."""
    label, path, version = python
    with viewed(path, peer("large_linetable.py")) as t:
        view = own_view(t)
        [proc] = dump(refbpf_bin, t.pid)
    assert_same_stacks(view, proc)
    [main] = view
    assert main["frames"][0]["file"] == "large_linetable.py"
    assert main["frames"][0]["line"] == 3001


# Names of each kind of str: 1 byte a character beyond ASCII, 2 (BMP), 4
# (astral), as CPython's test uses them; py-spy's Cyrillic function; and
# py-spy's file name with an emoji in it.
LATIN1, BMP, ASTRAL = "za\u017c\u00f3\u0142\u0107", "\u03bb\u03ac\u03bc\u03b2\u03b4\u03b1", \
    "\U00010300\U00010301\U00010302\U00010303"
UNICODE_SCRIPT = '''\
import sys
import time

from own_view import report_when_parked


def {sleeper}():
    time.sleep(3600)  # @park


def {spinner}(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:  # @spin
        pass


if sys.argv[1] == "spin":
    print("READY", flush=True)
    {spinner}(60)
else:
    report_when_parked(__file__, [8])
    {sleeper}()
'''


@pytest.mark.parametrize("mode", ["dump", "record"])
def test_unicode_names_and_files(python, refbpf_bin, tmp_path, mode):
    """CPython's non-ASCII names test and py-spy's unicode and cyrillic
    scripts: function and file names in each width of str, asleep (dump)
    and on the CPU (folded, pstats, report)."""
    label, path, version = python
    sleeper = "\u043a\u0438\u0440\u0438\u043b\u043b\u0438\u0446\u0430"     # py-spy's
    spinner = "%s_%s_%s" % (LATIN1, BMP, ASTRAL)                             # CPython's
    script = tmp_path / ("mod_%s_%s_%s_\U0001f4a9.py" % (LATIN1, BMP, ASTRAL))
    script.write_text(UNICODE_SCRIPT.format(sleeper=sleeper, spinner=spinner), encoding="utf-8")
    if mode == "dump":
        with viewed(path, script, "sleep") as t:
            view = own_view(t)
            [proc] = dump(refbpf_bin, t.pid)
        assert_same_stacks(view, proc)
        [main] = view
        assert main["frames"][0]["function"] == sleeper and main["frames"][0]["file"] == str(script)
        return
    folded, prof = tmp_path / "u.folded", tmp_path / "u.prof"
    with start(path, script, "spin") as t:
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 1.5, "-F", 199, "--folded", folded,
                                    "-o", prof])
    lines = markers(script)
    assert lines["park"] == 8
    stacks = parse_folded(folded)
    # the loop's two lines (3.11's jump back is on `pass`)
    assert stacks and all(frames[-1][:2] == (spinner, str(script)) and
                          frames[-1][2] in (lines["spin"], lines["spin"] + 1)
                          for frames, _ in stacks), stacks[:3]
    first = lines["spin"] - 2
    assert "%s:%d(%s)" % (script, first, spinner) in r.stdout, r.stdout
    check = ("import marshal, sys; s = marshal.load(open(sys.argv[1], 'rb'));"
             "sys.exit(0 if (sys.argv[2], %d, sys.argv[3]) in s else 1)" % first)
    assert subprocess.run([path, "-c", check, str(prof), str(script), spinner],
                          env=dict(os.environ, PYTHONIOENCODING="utf-8")).returncode == 0


def test_recursion(python, refbpf_bin, tmp_path):
    """py-spy's and Austin's recursive.py: 20 deep, over and over; every
    stack starts at the module's call, goes through recurse frames at the
    recursive call, and ends on a line of recurse."""
    label, path, version = python
    script = peer("recursive.py")
    lines = markers(script)
    folded = tmp_path / "r.folded"
    rate = 499
    with start(path, script, 10) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", rate, "--folded", folded],
                        tmp_path)
        rec.wait_attached()
        cpu = process_cpu_seconds(t.pid)
        rc, _, stderr = rec.finish()
        cpu = process_cpu_seconds(t.pid) - cpu
    assert rc == 0, stderr
    stacks = parse_folded(folded)
    total = sum(c for _, c in stacks)
    for frames, count in stacks:
        assert frames[0][0] == "<module>" and frames[0][2] in (lines["loop"], lines["call"]), frames
        calls = frames[1:]
        assert len(calls) <= 21 and all(f[0] == "recurse" for f in calls), frames
        assert all(f[2] == lines["recurse"] for f in calls[:-1]), frames
        # the innermost: entering (3.11+ resume on the def line), testing
        # x, calling, or (20 calls deep) returning
        assert not calls or calls[-1][2] in (lines["enter"], lines["test"], lines["recurse"],
                                             lines["base"]), frames
        assert not calls or calls[-1][2] != lines["base"] or len(calls) == 21, frames
    # against the kernel's CPU time for the target while refbpf recorded
    assert total >= 0.5 * cpu * rate and total > 0, (total, cpu)


def test_qualified_names(python, refbpf_bin, tmp_path):
    """Austin's qualnames.py: Foo.run and Bar.run, told apart by their
    qualified names from 3.11 and by their first lines always."""
    label, path, version = python
    script = peer("qualnames.py")
    lines = markers(script)
    folded = tmp_path / "q.folded"
    with start(path, script, 10) as t:
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", 199, "--folded", folded])
    leaves = {}
    for frames, count in parse_folded(folded):
        leaves[frames[-1][:3]] = leaves.get(frames[-1][:3], 0) + count
    foo = (qualified(version, "Foo", "run"), str(script), lines["foo"])
    bar = (qualified(version, "Bar", "run"), str(script), lines["bar"])
    # the two take turns of 10 ms of CPU each: as many samples, give or take
    total = sum(leaves.values())
    assert leaves.get(foo, 0) + leaves.get(bar, 0) >= 0.9 * total > 0, leaves
    assert abs(leaves.get(foo, 0) - leaves.get(bar, 0)) <= 0.3 * total + 5, leaves
    for name, line in ((foo[0], lines["foo"] - 2), (bar[0], lines["bar"] - 2)):
        assert "%s:%d(%s)" % (script, line, name) in r.stdout, r.stdout


def test_subprocesses_found(python, refbpf_bin, tmp_path):
    """Austin's target_mp.py and py-spy's subprocesses.py: two
    multiprocessing children on the CPU are found by following the parent
    (-C), each a process of its own with its stacks at fact's line."""
    label, path, version = python
    script = peer("subprocesses.py")
    lines = markers(script)
    folded = tmp_path / "mp.folded"
    gofile = go_file(tmp_path)
    with start(path, script, 2, env={"REFBPF_TEST_GO": gofile}) as t:
        rec = Recording(refbpf_bin, ["-C", "-p", t.pid, "-F", 199, "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        rc, stdout, stderr = rec.finish(timeout=120)
    assert rc == 0, stderr[-2000:]
    roots = {}
    for frames, count in parse_folded(folded):
        if any(f[0] == "fact" and f[2] == lines["fact"] for f in frames):
            roots[frames[0][0]] = roots.get(frames[0][0], 0) + count
    children = [r for r in roots if r.startswith("<process ") and
                not r.startswith("<process %d " % t.pid)]
    assert len(children) == 2 and all(roots[c] >= 5 for c in children), roots
    assert len(re.findall(r"^  PID \d+  Python ", stdout, re.M)) >= 3, stdout[:3000]


def zombies(pid):
    """The children of `pid` that ended and were not reaped."""
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        children = f.read().split()
    found = []
    for child in children:
        with open("/proc/%s/stat" % child) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                found.append(int(child))
    return found


def test_zombie_child_and_dump_of_parent_and_child(python, refbpf_bin, tmp_path):
    """py-spy's subprocesses_zombie_child.py: a child that ended and was
    never reaped is no obstacle: the parent is recorded with -C and dumped
    with the child's PID beside its own, which is named as gone."""
    label, path, version = python
    script = peer("subprocesses.py")
    lines = markers(script)
    with start(path, script, 60, "zombie") as t:
        deadline = time.monotonic() + 30
        while not zombies(t.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        [zombie] = zombies(t.pid)
        r = run_refbpf(refbpf_bin, ["-C", "-p", t.pid, "-d", 1])
        d = subprocess.run([refbpf_bin, "dump", "--json", "-p", str(t.pid), str(zombie)],
                           capture_output=True, text=True, timeout=60)
    assert "PID %d  Python" % t.pid in r.stdout, r.stdout
    # the parent in full; the child, gone but for its exit status, named
    assert d.returncode == 1 and d.stderr.strip() == "refbpf: PID %d: no such process" % zombie, (
        d.returncode, d.stderr)
    [proc] = json.loads(d.stdout)
    [main] = [th for th in proc["threads"] if th["tid"] == t.pid]
    assert [(f["function"], f["line"]) for f in main["frames"]] == [("<module>", lines["sleep"])]
