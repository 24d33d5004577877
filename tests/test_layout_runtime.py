"""Root tests: the layout refbpf picks at run time for each real
interpreter, the validation that stands between a layout and the BPF
walker, and the layout store that keeps DWARF-derived layouts by build-id."""
import os
import stat
import subprocess

import pytest

from conftest import tool_path
from kernel_times import CpuGiven, assert_sampled
from profiling import (Target, function_samples, parse_folded, target_path,
                       wait_until_older_than)
from pythons import find_interpreters
from test_layout_dwarf import dump, interpreter_elf

INTERPRETERS = [i for i in find_interpreters() if i[2] >= (3, 8)]

pytestmark = pytest.mark.root


@pytest.fixture
def store(tmp_path):
    """A private layout store, so tests neither see nor leave entries in
    /var/cache/refbpf."""
    d = tmp_path / "layouts"
    d.mkdir(mode=0o700)
    return d


def has_dwarf(path, version):
    """DWARF as the running process sees it: in the file, or a debug file
    in its root (the host's: a tree unpacked elsewhere keeps its -dbg files
    where the process never looks)."""
    rc, _, _ = dump("--dwarf", interpreter_elf(path), version[0], version[1])
    return rc == 0


def probe(pid, *args, store=None):
    env = dict(os.environ, REFBPF_CACHE_DIR=str(store)) if store else None
    r = subprocess.run([tool_path("layout_probe"), str(pid)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def expected_source(path, version):
    if version >= (3, 13):
        return "_Py_DebugOffsets"
    return "DWARF" if has_dwarf(path, version) else "built-in table"


def test_true_layout_validates(python, store):
    label, path, version = python
    with Target(path, target_path("threads.py"), 10, 4) as t:
        out = probe(t.pid, store=store)
    assert out.startswith("source=%s " % expected_source(path, version)), out
    assert "result=ok" in out, out


@pytest.mark.parametrize("field,delta", [("frame_code", 8), ("frame_code", -8),
                                         ("frame_previous", 8)])
def test_wrong_offset_is_refused(python, store, field, delta):
    label, path, version = python
    with Target(path, target_path("threads.py"), 10, 4) as t:
        out = probe(t.pid, field, delta, store=store)
    assert "result=mismatch" in out, out


def dwarf_interpreters():
    found = [i for i in INTERPRETERS if i[2] <= (3, 12) and has_dwarf(i[1], i[2])]
    if not found:
        pytest.skip("skipped: no interpreter 3.8-3.12 with DWARF here")
    return found


def test_dwarf_layout_is_used_and_stored(tmp_path, store, refbpf_bin):
    """Where DWARF exists, the profile is taken with the layout it gives, and
    the next run reads that layout back from the store by build-id."""
    for label, path, version in dwarf_interpreters():
        before = set(os.listdir(store))
        for run, source in enumerate(("layout from DWARF;", "layout from DWARF (stored by build-id);")):
            folded = tmp_path / ("%s-%d.folded" % (label, run))
            with Target(path, target_path("shares.py"), 6) as t:
                given = CpuGiven(t.pid)
                r = subprocess.run([refbpf_bin, "-v", "-p", str(t.pid), "-d", "1", "-F", "499",
                                    "--folded", str(folded)],
                                   capture_output=True, text=True, timeout=60,
                                   env=dict(os.environ, REFBPF_CACHE_DIR=str(store)))
                assert r.returncode == 0, r.stderr
                assert source in r.stderr, "%s run %d: %s" % (label, run, r.stderr[-2000:])
                stacks = parse_folded(folded)
                # share_three: half the CPU time
                assert_sampled(function_samples(stacks, "share_three"), given, r.stdout, 499,
                               part=0.5)
        entries = sorted(set(os.listdir(store)) - before)
        assert len(entries) == 1 and entries[0].endswith("-%d.%d.layout" % version[:2]), (
            label, entries)
        mode = os.stat(store / entries[0]).st_mode
        assert not mode & (stat.S_IWGRP | stat.S_IWOTH), oct(mode)


def test_damaged_store_is_refused_naming_the_version(store, refbpf_bin):
    """A stored layout that does not fit the process is not profiled with:
    refbpf exits non-zero with one line naming the version and the source.
    The target is past its first second, which refbpf waits out as start-up
    (a wait it would announce on a line of its own)."""
    label, path, version = dwarf_interpreters()[-1]
    with Target(path, target_path("threads.py"), 10, 2) as t:
        out = probe("--plant", t.pid, "frame_code", 8, store=store)
        assert out.startswith("planted "), out
        wait_until_older_than(t.pid, 1.5)
        r = subprocess.run([refbpf_bin, "-p", str(t.pid), "-d", "1"], capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ, REFBPF_CACHE_DIR=str(store)))
    assert r.returncode != 0, r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Python %d.%d" % version[:2] in lines[0], lines[0]
    assert "DWARF (stored by build-id) layout" in lines[0] and "refusing" in lines[0], lines[0]


def test_store_writable_by_others_is_ignored(tmp_path, refbpf_bin):
    """Layouts planted in a directory others may write are never used."""
    label, path, version = dwarf_interpreters()[-1]
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with Target(path, target_path("threads.py"), 10, 2) as t:
        out = probe("--plant", t.pid, "frame_code", 8, store=shared)
        assert out.startswith("planted ")
        assert not os.listdir(shared), "the store must refuse to write there too"
        out = probe(t.pid, store=shared)
    assert out.startswith("source=DWARF ") and "result=ok" in out, out


def read_counter(pid, addr, on_free):
    size = 8 if on_free else 4
    with open("/proc/%d/mem" % pid, "rb") as mem:
        mem.seek(addr)
        return int.from_bytes(mem.read(size), "little")


def test_code_counter_moves_exactly_when_code_objects_come_and_go(python):
    """BPF trusts a code object read in an earlier sample while the code
    counter has not moved: the counter refbpf finds must be the
    interpreter's, moving on every code object created (3.12, 3.13) or
    freed (3.14+), and still while the process runs code it has."""
    label, path, version = python
    p = subprocess.Popen([path, target_path("code_counter.py")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "READY"

        def ask(n):
            p.stdin.write("%d\n" % n)
            p.stdin.flush()
            assert p.stdout.readline().strip() == "DONE"

        ask(0)
        r = subprocess.run([tool_path("layout_probe"), "--code-counter", str(p.pid)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        fields = dict(kv.split("=") for kv in r.stdout.split())
        addr, on_free = int(fields["code_gen"], 16), fields["on_free"] == "1"
        if version[:2] < (3, 12):
            assert addr == 0, "%s has no code counter, yet one was found: %r" % (label, fields)
            return
        if version[:2] == (3, 12) and not symtab_has(interpreter_elf(path), "_Py_next_func_version"):
            assert addr == 0, fields
            pytest.skip("skipped: %s is stripped: 3.12's code counter is named only in .symtab"
                        % label)
        assert addr, "no code counter found for %s: %r" % (label, fields)
        assert on_free == (version[:2] >= (3, 14)), fields
        if version[:2] >= (3, 13):
            assert int(fields["interp"], 16), fields
        before = read_counter(p.pid, addr, on_free)
        ask(0)
        ask(0)
        assert read_counter(p.pid, addr, on_free) == before, "the counter moved with no new code"
        for n in (50, 7):
            before = read_counter(p.pid, addr, on_free)
            ask(n)
            after = read_counter(p.pid, addr, on_free)
            # n functions and n module bodies: created, then freed
            assert after - before == 2 * n, (n, before, after)
    finally:
        p.kill()
        p.wait()


def symtab_has(elf, name):
    r = subprocess.run(["readelf", "-Ws", elf], capture_output=True, text=True)
    return any(line.split()[-1:] == [name] for line in r.stdout.splitlines())
