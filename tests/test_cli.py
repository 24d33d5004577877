"""Command line and error handling: one clear line, non-zero exit."""
import glob
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import tool_path
from profiling import Target, run_refbpf, target_path
from pythons import find_interpreters


def run(refbpf, *args, **kw):
    return subprocess.run([refbpf] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=60, **kw)


def one_line_error(r, *words):
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) >= 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    return lines


@pytest.mark.parametrize("args,words", [
    (["-p", "12x"], ["invalid PID '12x'"]),
    (["-p", "1", "-F", "0"], ["invalid rate"]),
    (["-p", "1", "-F", "abc"], ["invalid rate"]),
    (["-p", "1", "-d", "-3"], ["invalid duration"]),
    (["-p", "1", "-s", "bogus"], ["unknown sort key 'bogus'"]),
    (["-p", "1", "-n", "0"], ["invalid limit"]),
    (["--frobnicate"], ["unknown option"]),
    (["-d", "1"], ["no target"]),
    (["-p"], ["needs a value"]),
    (["-p", "1", "stray"], []),
    (["--all", "-p", "1"], ["--all and --pid exclude each other"]),
    (["--all", "stray"], ["unexpected argument 'stray'"]),
    (["top", "-p", "1", "-o", "x.prof"], ["top shows a live view and writes no files"]),
    (["-p", "1", "--keep", "3"], ["--keep needs --every"]),
    (["dump", "-p", "1", "-o", "x.prof"], ["dump takes --pid PID [PID...], --json and --locals only"]),
    (["-p", "1", "--locals"], ["--locals is for 'refbpf dump'"]),
    (["-p", "1", "--as-root"], ["--as-root is for 'refbpf record PROGRAM'"]),
    (["-p", "1", "--json"], ["--json is for 'refbpf dump'"]),
    (["-p", "1", "--every", "0.5", "-o", "x"], ["invalid window '0.5'"]),
    (["-p", "1", "--every", "5"], ["--every needs an output file"]),
    (["-p", "1", "--icicle", "-o", "x.prof"], ["--icicle is how --flamegraph FILE is drawn"]),
])
def test_bad_arguments(refbpf_bin, args, words):
    r = run(refbpf_bin, *args)
    lines = one_line_error(r, *words)
    assert len(lines) == 1, r.stderr
    assert r.returncode == 2


def test_help_and_version(refbpf_bin):
    r = run(refbpf_bin, "--help")
    assert r.returncode == 0 and "--pid" in r.stdout
    r = run(refbpf_bin, "--version")
    assert r.returncode == 0 and r.stdout.startswith("refbpf ")


def test_not_root_names_missing_capabilities(refbpf_bin):
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv:
        pytest.skip("skipped: needs root and setpriv to drop privileges")
    # A copy the unprivileged user can reach, wherever the tree is.
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        binary = os.path.join(d, "refbpf")
        shutil.copy(refbpf_bin, binary)
        r = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                            "--inh-caps=-all", binary, "-p", str(os.getpid())],
                           capture_output=True, text=True, timeout=30)
    lines = one_line_error(r, "permission denied", "CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE")
    assert len(lines) == 1


@pytest.mark.root
def test_file_capabilities_suffice_without_root(refbpf_bin):
    """CAP_BPF + CAP_PERFMON + CAP_SYS_PTRACE as file capabilities: an
    unprivileged user profiles its own Python (only what it could ptrace:
    tests/test_security.py). A user who really holds the capabilities
    (ambient, no file capabilities) is not restricted: a Python under a
    directory it cannot read is named, with the capability that would help."""
    setcap = shutil.which("setcap") or "/usr/sbin/setcap"
    if not os.access(setcap, os.X_OK):
        pytest.skip("skipped: setcap not installed (libcap2-bin)")
    debian = "/usr/bin/python3.11"
    assert os.access(debian, os.X_OK), "no %s (Debian 12's python3.11)" % debian
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as hidden:
        # a Python under a directory nobody may search (as pyenv's /root/.pyenv)
        os.chmod(hidden, 0o700)
        unreadable = os.path.join(hidden, "python3.11")
        shutil.copy(debian, unreadable)
        os.chmod(d, 0o777)
        binary = os.path.join(d, "refbpf")
        shutil.copy(refbpf_bin, binary)
        subprocess.run([setcap, "cap_bpf,cap_perfmon,cap_sys_ptrace+ep", binary], check=True)
        plain = os.path.join(d, "refbpf-plain")
        shutil.copy(refbpf_bin, plain)
        script = os.path.join(d, "spin.py")
        with open(script, "w") as f:
            f.write("import time\ndef spin_here():\n    t = time.time() + 8\n"
                    "    while time.time() < t: pass\nspin_here()\n")
        os.chmod(script, 0o644)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        caps = "+bpf,+perfmon,+sys_ptrace"
        holding_caps = ["--inh-caps=" + caps, "--ambient-caps=" + caps]
        for python, owner, refbpf, ok in ((debian, as_nobody, [binary], True),
                                          (unreadable, [], holding_caps + [plain], False)):
            target = subprocess.Popen(owner + [python, script])
            try:
                time.sleep(0.5)
                r = subprocess.run(as_nobody + refbpf + ["-p", str(target.pid), "-d", "1",
                                                         "--folded", os.path.join(d, "out.folded")],
                                   capture_output=True, text=True, timeout=60)
            finally:
                target.kill()
                target.wait()
            if ok:
                assert r.returncode == 0, r.stderr
                assert "spin_here" in open(os.path.join(d, "out.folded")).read()
            else:
                lines = one_line_error(r, "permission denied", "CAP_DAC_READ_SEARCH")
                assert len(lines) == 1 and r.returncode != 0


@pytest.mark.root
def test_no_such_pid(refbpf_bin):
    r = run(refbpf_bin, "-p", 4194303, "-d", 1)
    lines = one_line_error(r, "PID 4194303", "no such process")
    assert len(lines) == 1


@pytest.mark.root
def test_not_a_python_process(refbpf_bin):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        r = run(refbpf_bin, "-p", sleeper.pid, "-d", 1)
    finally:
        sleeper.kill()
        sleeper.wait()
    lines = one_line_error(r, "PID %d" % sleeper.pid, "not a Python process")
    # the young process was waited for, and that wait said so first
    assert len(lines) == 2 and "waiting up to" in lines[0], r.stderr


# A stand-in for a CPython 3.6 or 3.7 process, built here from what any
# machine has: an executable defining the symbols refbpf tells versions by
# (3.7 added _PyRuntime; 3.8 PyCode_NewWithPosOnlyArgs; every CPython has
# Py_Initialize), mapped and waiting as a running interpreter is.
OLD_PYTHON_C = """
#include <stdio.h>
#ifdef HAS_RUNTIME
char _PyRuntime[65536];
#endif
void Py_Initialize(void) {}
int main(void) { int c; puts("READY"); fflush(stdout); while ((c = getchar()) != EOF) ; return 0; }
"""


def old_pythons(tmp_path):
    """[(label, version, argv)]: every real 3.6 and 3.7 here (pyenv's), and the two
    stand-ins, which every machine has."""
    found = [(label, version[:2], [path, target_path("exits.py"), "20"])
             for label, path, version in find_interpreters(min_version=(3, 0))
             if version[:2] in ((3, 6), (3, 7))]
    for version, flags in (((3, 6), []), ((3, 7), ["-DHAS_RUNTIME"])):
        exe = tmp_path / ("python%d.%d" % version)
        subprocess.run(["cc", "-x", "c", "-O0", "-rdynamic", "-o", str(exe)] + flags + ["-"],
                       input=OLD_PYTHON_C, text=True, check=True)
        found.append(("stand-in-%d.%d" % version, version, [str(exe)]))
    return found


@pytest.mark.root
def test_unsupported_version_is_named(refbpf_bin, tmp_path):
    for label, version, argv in old_pythons(tmp_path):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "READY", label
            r = run(refbpf_bin, "-p", p.pid, "-d", 1)
        finally:
            p.kill()
            p.wait()
        lines = one_line_error(r, "unsupported Python version")
        assert len(lines) == 1, (label, r.stderr)
        if version == (3, 7):
            assert "unsupported Python version 3.7 " in r.stderr, (label, r.stderr)
        else:
            assert "older than 3.7" in r.stderr, (label, r.stderr)


@pytest.mark.root
def test_python_caught_while_its_library_loads_is_not_unsupported(refbpf_bin):
    """libpython 3.13+ mapped in one piece, as the loader's first mmap leaves
    it before placing the segments: _PyRuntime's address shows other bytes
    of the file, no _Py_DebugOffsets. That is a Python still loading (it was
    refused as an unsupported 3.13 once, a -C grandchild caught at exec)."""
    # a shared libpython (pyenv's), or a position-independent executable
    # holding the interpreter (the free-threaded builds make pythons makes):
    # both are mapped in one piece first
    files = []
    for _, path, _ in find_interpreters(min_version=(3, 13)):
        libdir = os.path.join(os.path.dirname(os.path.dirname(path)), "lib")
        files += sorted(glob.glob(os.path.join(libdir, "libpython3.*.so.1.0")))
        with open(path, "rb") as f:
            pie = f.read(18)[16:18] == b"\x03\x00"     # e_type ET_DYN
        if pie and defines(path, "_PyRuntime"):
            files.append(path)
    assert files, "no shared libpython or PIE interpreter 3.13+ (make pythons builds 3.13t)"
    for file in files:
        p = subprocess.Popen([tool_path("map_file"), file], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "READY"
            r = run(refbpf_bin, "-p", p.pid, "-d", 1)
        finally:
            p.stdin.close()
            p.wait()
        # Where the data segment lies at its own address in the file (the
        # PIE 3.14t/3.15t builds), the one-piece mapping already shows
        # _PyRuntime's real first bytes: then it is a Python found with no
        # interpreter yet, one that has not finished starting.
        said = "has not finished starting" if data_at_file_offset(file) else \
            "has not finished loading"
        lines = one_line_error(r, "PID %d" % p.pid, said)
        assert "unsupported" not in r.stderr, (file, r.stderr)
        # the wait for it to finish was announced first
        assert len(lines) == 2 and "waiting up to" in lines[0], (file, r.stderr)


def data_at_file_offset(elf):
    """Whether the writable LOAD segment's address equals its file offset."""
    r = subprocess.run(["readelf", "-lW", elf], capture_output=True, text=True, check=True)
    for line in r.stdout.splitlines():
        f = line.split()
        if f[:1] == ["LOAD"] and any("W" in flags for flags in f[6:-1]):
            return int(f[1], 16) == int(f[2], 16)
    raise AssertionError("%s has no writable LOAD segment" % elf)


def defines(elf, symbol):
    r = subprocess.run(["readelf", "-Ws", "--dyn-syms", elf], capture_output=True, text=True)
    return any(line.split()[-1:] == [symbol] for line in r.stdout.splitlines())


@pytest.mark.root
def test_no_btf(refbpf_bin, tmp_path):
    r = run(refbpf_bin, "-p", os.getpid(), "--btf", tmp_path / "missing", "-d", 1)
    lines = one_line_error(r, "BTF")
    assert len(lines) == 1


@pytest.mark.root
def test_several_pids_some_not_python(refbpf_bin, tmp_path):
    """`-p $(pgrep ...)` may catch a shell or a dead PID: listed, not fatal."""
    python = find_interpreters()[-1][1]
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with Target(python, target_path("known_stack.py"), 8) as t:
            # space-separated in one argument, and as separate arguments
            r = run_refbpf(refbpf_bin, ["-p", "%d %d" % (t.pid, sleeper.pid), "4194303",
                                        "-d", 1.5])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "PID %d  Python" % t.pid in r.stdout, r.stdout
    assert "PID %d  not profiled: not a Python process" % sleeper.pid in r.stdout, r.stdout
    assert "PID 4194303  not profiled: no such process" in r.stdout, r.stdout
    assert "leaf" in r.stdout


@pytest.mark.root
def test_comma_separated_pids(refbpf_bin):
    python = find_interpreters()[-1][1]
    with Target(python, target_path("known_stack.py"), 8) as a, \
            Target(python, target_path("shares.py"), 8) as b:
        r = run_refbpf(refbpf_bin, ["--pid", "%d,%d" % (a.pid, b.pid), "-d", 1.5])
    assert "leaf" in r.stdout and "share_three" in r.stdout, r.stdout
