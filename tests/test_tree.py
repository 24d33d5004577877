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


# Where each label kind of tests/pythons.py comes from, as README's
# "where the tests get it" column says it.
MATRIX_SOURCES = {"pyenv": "pyenv", "bullseye": "bullseye", "debian": "bookworm",
                  "trixie": "trixie", "sid": "sid"}


def readme_support_rows():
    """(versions cell, where cell, status cell) of README's support table."""
    text = open(os.path.join(ROOT, "README.md")).read()
    table = text[text.index("## Support"):]
    rows = []
    for line in table.splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 5 and re.match(r"3\.\d", cells[0]):
            rows.append((cells[0], cells[2], cells[3]))
    return rows


def test_support_matrix_is_written_once():
    """README's support table is the one place the tested interpreters are
    listed: docs/support.md points to it rather than copying it, and
    tests/pythons.py's MATRIX (what CI insists on) names exactly its
    "tested here" rows."""
    import pythons

    support = open(os.path.join(ROOT, "docs", "support.md")).read()
    assert "| CPython |" not in support, "docs/support.md copies README's support table"
    assert "README.md#support" in support
    rows = readme_support_rows()
    tested = set()
    for versions, where, status in rows:
        if not status.startswith("tested here"):
            continue
        for version in re.findall(r"3\.\d+\.[\w~]+", versions):
            minor = ".".join(version.rstrip("t").split(".")[:2])
            ft = version.endswith("t")
            for kind, word in MATRIX_SOURCES.items():
                if word in where:
                    tested.add((kind, minor + ("t" if ft else "")))
    matrix = {(kind, minor) for kind, minor, _ in pythons.MATRIX}
    assert matrix == tested, ("tests/pythons.py's MATRIX and README's support table differ",
                              sorted(matrix - tested), sorted(tested - matrix))
