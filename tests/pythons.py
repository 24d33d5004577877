"""Every CPython interpreter the tests can use on this machine.

Sources: pyenv builds under /root/.pyenv/versions (shared libpython),
Debian's /usr/bin/python3.X (static), and any tree under $REFBPF_PYTHONS_DIR
(interpreters unpacked from other Debian releases: DIR/*/usr/bin/python3.X
or DIR/*/bin/python3*). Versions are read from the interpreter's own
`sys.version_info` (and "t" for free-threaded builds) — running a *test* interpreter is fine; refbpf itself
never runs its targets.
"""
import glob
import os
import re
import subprocess

# Where scripts/fetch-pythons.sh puts Debian's interpreters.
DEFAULT_PYTHONS_DIR = "/var/cache/refbpf/pythons"

_cache = {}


def _version(path):
    if path not in _cache:
        try:
            out = subprocess.run([path, "-c", "import sys; print(*sys.version_info[:3])"],
                                 capture_output=True, text=True, timeout=30).stdout.split()
            _cache[path] = tuple(int(x) for x in out) if len(out) == 3 else None
        except (OSError, subprocess.TimeoutExpired, ValueError):
            _cache[path] = None
    return _cache[path]


def _candidates():
    paths = sorted(glob.glob("/root/.pyenv/versions/*/bin/python3"))
    paths += sorted(p for p in glob.glob("/usr/bin/python3.*")
                    if os.path.basename(p)[len("python"):].replace(".", "").isdigit())
    extra = os.environ.get("REFBPF_PYTHONS_DIR", DEFAULT_PYTHONS_DIR)
    if os.path.isdir(extra):
        paths += sorted(p for p in glob.glob(os.path.join(extra, "*", "usr", "bin", "python3.*"))
                        if re.search(r"/python3\.\d+t?$", p))
    return [p for p in paths if os.access(p, os.X_OK) and not os.path.isdir(p)]


def _free_threaded(path):
    """True for a free-threaded (--disable-gil) build: python3.Xt."""
    return re.search(r"/python3\.\d+t$", path) is not None


def _label(path, version):
    if path.startswith("/root/.pyenv/"):
        kind = "pyenv"
    elif path.startswith("/usr/bin/"):
        kind = "debian"
    else:
        # DIR/<release>-<version>/usr/bin/python3.X
        tree = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(path))))
        kind = tree.split("-")[0] or "extra"
    return "%s-%d.%d.%d%s" % ((kind,) + version + ("t" if _free_threaded(path) else "",))


# README's support matrix, as the tests see it: each interpreter it says is
# tested, by the label kind find_interpreters() gives it and its minor
# version ("t": free-threaded), and where it comes from. Only pyenv
# provides 3.8, 3.10 and 3.12 (no Debian release has them), and pyenv's
# shared-libpython builds; a machine without pyenv tests fewer, says so in
# one line, and a CI run (CI=true) fails instead (conftest.py).
MATRIX = [
    ("pyenv", "3.8", "pyenv (/root/.pyenv/versions)"),
    ("pyenv", "3.9", "pyenv (/root/.pyenv/versions)"),
    ("pyenv", "3.10", "pyenv (/root/.pyenv/versions)"),
    ("pyenv", "3.11", "pyenv (/root/.pyenv/versions)"),
    ("pyenv", "3.12", "pyenv (/root/.pyenv/versions)"),
    ("pyenv", "3.13", "pyenv (/root/.pyenv/versions)"),
    ("bullseye", "3.9", "make pythons (Debian bullseye)"),
    ("debian", "3.11", "Debian 12's /usr/bin/python3.11 (make deps)"),
    ("trixie", "3.13", "make pythons (Debian trixie)"),
    ("trixie", "3.13t", "make pythons (built from Debian trixie's source)"),
    ("sid", "3.13", "make pythons (Debian sid)"),
    ("sid", "3.14", "make pythons (Debian sid)"),
    ("sid", "3.15", "make pythons (Debian sid)"),
    ("sid", "3.14t", "make pythons (built from Debian sid's source)"),
    ("sid", "3.15t", "make pythons (built from Debian sid's source)"),
]


def matrix_key(label):
    """("pyenv", "3.12") from "pyenv-3.12.1", ("trixie", "3.13t") from
    "trixie-3.13.5t"."""
    kind, version = label.split("-", 1)
    minor = ".".join(version.rstrip("t").split(".")[:2])
    return kind, minor + ("t" if version.endswith("t") else "")


def missing_from_matrix(found):
    """The MATRIX rows no interpreter in `found` (find_interpreters())
    stands for."""
    have = {matrix_key(label) for label, _, _ in found}
    return [row for row in MATRIX if row[:2] not in have]


def find_interpreters(min_version=(3, 8)):
    """[(label, path, version tuple)] sorted by version, one per distinct
    (kind, version)."""
    found, seen = [], set()
    for path in _candidates():
        version = _version(path)
        if not version or version < tuple(min_version):
            continue
        label = _label(path, version)
        if label in seen:
            continue
        seen.add(label)
        found.append((label, path, version))
    return sorted(found, key=lambda i: (i[2], i[0]))
