"""Shared pytest setup: where the binaries are, and root-only tests.

Tests that need root (BPF) are marked `root`; without root they are skipped
with a loud "skipped: <reason>", never passed.

Under CI=true a run that tests less than it claims fails: any skip not in
allowed_skips.py, and any interpreter of README's support matrix
(pythons.MATRIX) that is missing. Elsewhere both are listed at the end.
"""
import fnmatch
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# `make asan` builds into build-asan/; REFBPF_BUILD selects that tree.
BUILD = os.environ.get("REFBPF_BUILD", os.path.join(ROOT, "build"))
REFBPF = os.environ.get("REFBPF_BIN") or (
    os.path.join(ROOT, "refbpf") if BUILD == os.path.join(ROOT, "build")
    else os.path.join(BUILD, "refbpf"))


CI = os.environ.get("CI") == "true"
# (node id, reason) of every skip in this run
SKIPS = []


def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root (loads BPF programs)")


def _missing_interpreters():
    from pythons import find_interpreters, missing_from_matrix
    return missing_from_matrix(find_interpreters())


def _absent_line(missing):
    by_source = {}
    for kind, version, source in missing:
        by_source.setdefault(source, []).append(version)
    return "interpreters: absent from README's support matrix: %s" % "; ".join(
        "%s from %s" % (", ".join(v), source) for source, v in by_source.items())


def pytest_report_header(config):
    from pythons import find_interpreters
    found = find_interpreters()
    missing = _missing_interpreters()
    line = "interpreters: %d found (%s)" % (len(found), " ".join(l for l, _, _ in found))
    return [line, _absent_line(missing) if missing else "interpreters: all of the matrix"]


def _allowed(nodeid, reason):
    from allowed_skips import ALLOWED
    return any(fnmatch.fnmatchcase(nodeid, pattern) and text in reason
               for pattern, text, _ in ALLOWED)


def pytest_runtest_logreport(report):
    if report.skipped and report.when in ("setup", "call"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        SKIPS.append((report.nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    refused = [(n, r) for n, r in SKIPS if not _allowed(n, r)]
    missing = _missing_interpreters()
    config._refbpf_gate = refused, missing
    if CI and (refused or missing) and session.exitstatus in (0, 5):
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    refused, missing = getattr(config, "_refbpf_gate", ([], []))
    tr = terminalreporter
    allowed = len(SKIPS) - len(refused)
    if refused or missing or CI:
        tr.section("what this run did not test")
        tr.write_line("skips: %d allowed (tests/allowed_skips.py), %d not" % (allowed, len(refused)))
        for nodeid, reason in refused:
            tr.write_line("  not allowed: %s: %s" % (nodeid, reason))
        if missing:
            tr.write_line(_absent_line(missing))
        if CI and (refused or missing):
            tr.write_line("CI=true: a run that tests less than README says fails")


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="skipped: needs root to load BPF programs (run as root)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def refbpf_bin():
    if not os.access(REFBPF, os.X_OK):
        pytest.fail("%s is not built: run `make` first (make test does)" % REFBPF)
    return REFBPF


def _interpreters():
    from pythons import find_interpreters
    return [i for i in find_interpreters() if i[2] >= (3, 8)]


@pytest.fixture(params=_interpreters(), ids=lambda i: i[0])
def python(request):
    """Each interpreter found (3.8+), as (label, path, version); one that
    vanished since collection is skipped by name."""
    label, path, version = request.param
    if not os.access(path, os.X_OK):
        pytest.skip("skipped: %s not found at %s" % (label, path))
    return request.param


def tool_path(name):
    """A test tool built from tests/tools/NAME.c by the Makefile."""
    path = os.path.join(BUILD, "tests", name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is not built: run `make test`" % path)
    return path
