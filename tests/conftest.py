"""Shared pytest setup: where the binaries are, and root-only tests.

Tests that need root (BPF) are marked `root`; without root they are skipped
with a loud "skipped: <reason>", never passed.
"""
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


def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root (loads BPF programs)")


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
