"""The tree's own cross-references hold: every file of the repository that
a comment, a document or a script names by its path (user/..., bpf/...,
tests/..., docs/...) exists, so a file moved or renamed cannot leave a
pointer to nowhere behind."""
import os
import re
import subprocess
import sys

from conftest import ROOT

# Paths of this repository as comments and documents cite them. Names in
# capitals are templates ("bpf/arch/ARCH.h", "user/output/NAME_writer.c").
CITED = re.compile(r"(?<![\w/.<-])((?:user|bpf|tests|bench|scripts|docs|vmlinux|demo)/"
                   r"[\w./-]*?\.(?:c|h|py|md|sh|rst|js|css))\b")
TEMPLATE = re.compile(r"[A-Z]{3,}")
# Generated at build time, not in the tree.
GENERATED = {"vmlinux/x86/vmlinux.h"}
# Designs of work not built yet name the files they would add.
PROPOSALS = "docs/plans/"


def tracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True,
                         check=True).stdout
    return [p for p in out.splitlines() if os.path.isfile(os.path.join(ROOT, p))]


def citations():
    found = []
    for path in tracked_files():
        if not re.search(r"\.(c|h|py|md|sh|rst|js|css|mk)$|(^|/)Makefile$", path) or \
                path.startswith(PROPOSALS):
            continue
        with open(os.path.join(ROOT, path), errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                for m in CITED.finditer(line):
                    cited = m.group(1).rstrip(".")
                    if TEMPLATE.search(cited) or cited in GENERATED:
                        continue
                    found.append((path, lineno, cited))
    return found


def test_every_cited_path_exists():
    cites = citations()
    # the scan itself works: this file is cited in the tree's docs
    assert any(c == "tests/test_tree.py" for _, _, c in cites), "no citation found at all"
    missing = ["%s:%d cites %s" % c for c in cites if not os.path.exists(os.path.join(ROOT, c[2]))]
    assert not missing, "\n".join(missing)


def test_python_files_are_clean():
    """pyflakes finds nothing in the tree's Python: no unused import, no
    name assigned and never used (a value a test computed and forgot to
    assert on), no undefined name."""
    py = [p for p in tracked_files() if p.endswith(".py")]
    assert "tests/test_tree.py" in py
    r = subprocess.run([sys.executable, "-m", "pyflakes"] + py, cwd=ROOT, capture_output=True,
                       text=True)
    assert "No module named pyflakes" not in r.stderr, "pyflakes is missing: make deps installs it"
    assert r.returncode == 0 and not r.stdout, r.stdout + r.stderr
