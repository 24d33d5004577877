"""Root tests for `refbpf dump --locals`: each frame's local variables,
arguments, cells and free variables with a short repr of str, int, float,
bool and None (as Python's repr() writes them, strings cut at 64
characters, control characters escaped) and the type's name otherwise;
unbound ones left out; on every interpreter."""
import json
import re
import subprocess

import pytest

from profiling import Target, target_path
from test_values import expected_str_repr

pytestmark = pytest.mark.root

STR_CHARS = 64


def expected_repr(type_name, value):
    """refbpf's documented repr: Python's for these types; a str's first 64
    characters, control characters (C0, DEL, C1) as \\xNN, "..." when cut;
    an int past 64 bits named as such."""
    if type_name == "str":
        return expected_str_repr(value[:STR_CHARS], len(value) > STR_CHARS)
    if type_name == "int":
        return repr(value) if abs(value) < 2 ** 64 else "<int past 64 bits>"
    if type_name in ("float", "bool", "NoneType"):
        return repr(value)
    return None


def expected_locals(lines):
    """{function: {name: (kind, type, repr)}} from the target's report."""
    out = {}
    for line in lines:
        m = re.match(r"LOCALS (\S+) (.*)$", line)
        if m:
            out[m.group(1)] = {name: (kind, typ, expected_repr(typ, value))
                               for name, (kind, typ, value) in json.loads(m.group(2)).items()}
    return out


def dump(refbpf, pid, *args):
    return subprocess.run([refbpf, "dump", "-p", str(pid), "--locals"] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_dump_locals_of_every_kind(python, tmp_path, refbpf_bin):
    label, path, version = python
    report = tmp_path / "locals"
    with Target(path, target_path("locals_target.py"), 30, report) as t:
        r = dump(refbpf_bin, t.pid, "--json")
    assert r.returncode == 0, r.stderr
    want = expected_locals(report.read_text().splitlines())
    assert set(want) == {"with_cells", "inner"}, report.read_text()
    [proc] = json.loads(r.stdout)
    [thread] = [th for th in proc["threads"] if th["python_name"] == "locals-thread"]
    frames = {f["name"]: f for f in thread["frames"]}
    for func, expected in want.items():
        f = frames[func]
        assert "locals_error" not in f, f
        got = {v["name"]: (v["kind"], v["type"], v["repr"]) for v in f["locals"]}
        assert got == expected, "%s:\n got  %r\n want %r" % (func, got, expected)
        assert f["locals_cut"] is False
    # the frame below is Thread.run's: its self
    run = [f for f in thread["frames"] if f["name"] == "run"]
    assert run and {v["name"]: v["type"] for v in run[0]["locals"]}.get("self") == "Thread"


def test_dump_locals_text(tmp_path, refbpf_bin):
    """The text form: NAME = REPR (or <TYPE>), cells and free variables
    marked, escaped for the terminal."""
    from pythons import find_interpreters
    label, path, version = find_interpreters()[-1]
    with Target(path, target_path("locals_target.py"), 30, tmp_path / "locals") as t:
        r = dump(refbpf_bin, t.pid)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    block = out[out.index("locals-thread"):]
    assert "\n    with_cells (" in block and "inner (" in block, block
    for line in ("        count = 3\n", "        captured = 6 (cell)\n",
                 "        captured = 6 (free)\n", "        items = <list>\n",
                 "        obj = <Custom>\n", "        nothing = None\n",
                 "        label = 'label'\n", "        small_float = 1.5e-07\n",
                 "        hostile = '\\x1b[2J\\x7f\\x85'\n"):
        assert line in block, (line, block)
    assert "gone" not in block and "\x1b" not in out


def test_locals_only_with_dump(refbpf_bin):
    r = subprocess.run([refbpf_bin, "-p", "1", "--locals"], capture_output=True, text=True)
    assert r.returncode == 2 and "--locals is for 'refbpf dump'" in r.stderr
