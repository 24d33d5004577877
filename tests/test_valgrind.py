"""Root tests: refbpf is valgrind-clean (memcheck: no invalid access, no use
of uninitialised memory, no definite or indirect leak) on a whole
recording that writes every output, and on `refbpf report` of the raw file
that recording wrote. The suppressions file names the only exceptions:
false positives of valgrind's bpf() wrapper inside libbpf's probes."""
import os
import shutil
import subprocess

import pytest

from conftest import ROOT
from profiling import Target, target_path
from pythons import find_interpreters

pytestmark = pytest.mark.root

SUPPRESSIONS = os.path.join(ROOT, "tests", "valgrind", "libbpf.supp")
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--track-origins=yes", "--suppressions=" + SUPPRESSIONS]


@pytest.fixture
def valgrind(refbpf_bin):
    if not shutil.which("valgrind"):
        pytest.skip("skipped: valgrind is not installed (scripts/install-deps.sh installs it)")
    with open(refbpf_bin, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("skipped: %s is an ASan build, which valgrind cannot run; "
                        "the release build's run covers this" % refbpf_bin)
    return VALGRIND


def run_under_valgrind(valgrind, refbpf_bin, args, timeout=300):
    r = subprocess.run(valgrind + [refbpf_bin] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    # valgrind's own notes on bpf() commands it does not model are not errors
    errors = [l for l in r.stderr.splitlines() if l.startswith("==")]
    assert r.returncode == 0 and not errors, "exit %d\n%s" % (r.returncode, r.stderr[-4000:])
    return r


def test_recording_and_report_are_valgrind_clean(valgrind, refbpf_bin, tmp_path):
    label, path, version = find_interpreters()[-1]
    out = {ext: tmp_path / ("p." + ext) for ext in ("prof", "raw", "folded", "svg", "html")}
    with Target(path, target_path("known_stack.py"), 60, 30) as t:
        r = run_under_valgrind(valgrind, refbpf_bin, [
            "-p", t.pid, "-d", 2, "-o", out["prof"], "--raw", out["raw"],
            "--folded", out["folded"], "--flamegraph", out["svg"], "--html", out["html"]])
    assert "leaf" in r.stdout, r.stdout[:2000]
    for p in out.values():
        assert p.stat().st_size > 0, p

    again = {ext: tmp_path / ("again." + ext) for ext in ("prof", "folded", "speedscope.json",
                                                         "pb.gz", "svg", "html")}
    r = run_under_valgrind(valgrind, refbpf_bin, [
        "report", out["raw"], "-o", again["prof"], "--folded", again["folded"],
        "--speedscope", again["speedscope.json"], "--pprof", again["pb.gz"],
        "--flamegraph", again["svg"], "--html", again["html"]])
    assert "leaf" in r.stdout, r.stdout[:2000]
    # the report of the raw file is the recording's own
    assert again["folded"].read_text() == out["folded"].read_text()
    for p in again.values():
        assert p.stat().st_size > 0, p
