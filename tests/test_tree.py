"""The tree's own cross-references hold: every file of the repository that
a comment, a document or a script names by its path (user/..., bpf/...,
tests/..., docs/...) exists, so a file moved or renamed cannot leave a
pointer to nowhere behind."""
import os
import re
import subprocess

from conftest import ROOT

# Paths of this repository as comments and documents cite them. Names in
# capitals are templates ("bpf/arch/ARCH.h", "user/output/NAME_writer.c").
CITED = re.compile(r"(?<![\w/.<-])((?:user|bpf|tests|bench|scripts|docs|vmlinux|demo)/"
                   r"[\w./-]*?\.(?:c|h|py|md|sh|rst|js|css))\b")
TEMPLATE = re.compile(r"[A-Z]{3,}")
# Generated at build time, not in the tree.
GENERATED = {"vmlinux/x86/vmlinux.h"}


def tracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True,
                         check=True).stdout
    return [p for p in out.splitlines() if os.path.isfile(os.path.join(ROOT, p))]


def citations():
    found = []
    for path in tracked_files():
        if not re.search(r"\.(c|h|py|md|sh|rst|js|css|mk)$|(^|/)Makefile$", path):
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
