"""Root test: refbpf never executes anything, least of all the target's own
binaries. It learns what it needs by reading ELF files, DWARF and memory.
strace follows refbpf (and anything it could start) while it profiles a
process tree that forks, execs Python children and runs a shell, and then
while `refbpf dump` reads the stacks of a live target: the only execve is
refbpf's own, and refbpf never creates a process (threads would be allowed,
it has none)."""
import os
import re
import shutil

import pytest

from profiling import Recording, Target, go, go_file, parse_folded, run_refbpf, target_path
from pythons import find_interpreters

pytestmark = pytest.mark.root

TRACED = "execve,execveat,fork,vfork,clone,clone3"


@pytest.fixture
def strace(tmp_path, monkeypatch):
    if not shutil.which("strace"):
        pytest.skip("skipped: strace is not installed (scripts/install-deps.sh installs it)")
    # LeakSanitizer cannot run under ptrace; the ASan run checks leaks elsewhere
    monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    log = tmp_path / "strace.log"
    return log, ["strace", "-f", "-qq", "-e", "trace=" + TRACED, "-o", str(log)]


def process_starts(log):
    """execve-family calls and process-creating clones in an strace log."""
    execs, spawns = [], []
    for line in log.read_text().splitlines():
        if re.search(r"\bexecve(at)?\(", line):
            execs.append(line)
        elif re.search(r"\b(v?fork|clone3?)\(", line) and "CLONE_THREAD" not in line:
            spawns.append(line)
    return execs, spawns


def test_recording_a_process_tree_executes_nothing(strace, tmp_path, refbpf_bin):
    log, wrapper = strace
    label, path, version = find_interpreters()[-1]
    folded = tmp_path / "out.folded"
    gofile = go_file(tmp_path)
    with Target(path, target_path("forker.py"), 1.5, 0.3,
                env=dict(os.environ, REFBPF_TEST_GO=gofile)) as t:
        rec = Recording(refbpf_bin, ["-p", t.pid, "-C", "-F", 499, "--folded", folded],
                        tmp_path, wrapper=wrapper)
        rec.wait_attached()
        go(gofile)
        rc, stdout, stderr = rec.finish()
        t.rest_of_output()
    assert rc == 0, stderr[-2000:]
    # refbpf really followed the tree: exec'd Python children were profiled
    stacks = parse_folded(folded)
    assert any(f[0] == "execd_child_work" for frames, _ in stacks for f in frames), stdout
    assert "not profiled: not a Python process" in stdout, stdout  # the shell
    execs, spawns = process_starts(log)
    assert len(execs) == 1 and os.path.basename(refbpf_bin) in execs[0], execs
    assert not spawns, spawns


def test_dump_executes_nothing(strace, tmp_path, refbpf_bin):
    log, wrapper = strace
    label, path, version = find_interpreters()[-1]
    with Target(path, target_path("known_stack.py"), 30, 10) as t:
        r = run_refbpf(wrapper[0], wrapper[1:] + [refbpf_bin, "dump", "-p", t.pid])
    assert "leaf" in r.stdout, r.stdout[:2000]
    execs, spawns = process_starts(log)
    assert len(execs) == 1 and os.path.basename(refbpf_bin) in execs[0], execs
    assert not spawns, spawns
