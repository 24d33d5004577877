"""The man page, refbpf(8), built by `make man` from docs/refbpf.8.rst:
every option `refbpf --help` prints is in it, and man renders it without
a warning."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

MAN_PAGE = os.path.join(BUILD, "refbpf.8")


@pytest.fixture(scope="module")
def page():
    if not os.path.exists(MAN_PAGE):
        pytest.fail("%s is not built: run `make man` (make test does)" % MAN_PAGE)
    if os.path.getmtime(MAN_PAGE) < os.path.getmtime(os.path.join(ROOT, "docs", "refbpf.8.rst")):
        pytest.fail("%s is older than docs/refbpf.8.rst: run `make man`" % MAN_PAGE)
    return MAN_PAGE


def rendered(path, *man_args):
    if not shutil.which("man"):
        pytest.fail("man is not installed: `make deps` installs man-db")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    env.pop("MAN_KEEP_FORMATTING", None)
    return subprocess.run(["man", *man_args, "-l", path], capture_output=True, text=True,
                          env=env, timeout=60)


def help_options(refbpf_bin):
    out = subprocess.run([refbpf_bin, "--help"], capture_output=True, text=True,
                         timeout=10).stdout
    # the option column: "  -p, --pid PID..." and "      --folded FILE"
    opts = set()
    for line in out.splitlines():
        m = re.match(r"^\s{2,6}(-\w)?(?:, )?(--[\w-]+)?", line)
        if m and (m.group(1) or m.group(2)):
            opts.update(o for o in m.groups() if o)
    return opts


def test_every_help_option_is_in_the_man_page(page, refbpf_bin):
    opts = help_options(refbpf_bin)
    assert {"-p", "--pid", "--folded", "--raw", "--every", "--version"} <= opts, opts
    text = rendered(page, "-E", "UTF-8").stdout
    words = set(re.findall(r"(?<![\w-])--?[\w][\w-]*", text.replace("\u2010", "-")))
    missing = sorted(o for o in opts if o not in words)
    assert not missing, "options --help prints but the man page lacks: %s" % missing


def test_man_page_renders_without_warnings(page):
    r = rendered(page, "--warnings", "-E", "UTF-8", "-Tutf8")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert "refbpf" in r.stdout and "--pid" in r.stdout.replace("\u2010", "-")
