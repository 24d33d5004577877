"""Unit tests of the profile model and its writers (pstats, folded, report,
atomic output), through tests/tools/profile_fixture.c. No root needed.

Expected values come from a small reference model written here in Python,
independent of the C code, so the C call graph is checked, not just echoed.
"""
import json
import marshal
import os
import pstats
import random
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

import pytest

from conftest import tool_path

from pythons import find_interpreters

ROOT_KEY = ("~", 0, "<refbpf: all samples>")
TRUNC_KEY = ("~", 0, "<truncated stack>")
STATES = ("profiled", "exited", "not_profiled")


def interpreters():
    found = find_interpreters()
    if not found:
        found = [("running", sys.executable, tuple(sys.version_info[:3]))]
    return found


INTERPRETERS = interpreters()


def fixture():
    return tool_path("profile_fixture")


def esc(s):
    """A string (or bytes) as a FUNC/TARGET field of the fixture format."""
    if s is None:
        return "-"
    if isinstance(s, str):
        s = s.encode("utf-8", "surrogateescape")
    out = []
    for b in s:
        if b == 0x5c:
            out.append("\\\\")
        elif b == 0x09:
            out.append("\\t")
        elif b == 0x0a:
            out.append("\\n")
        elif b == 0x0d:
            out.append("\\r")
        elif b < 0x20 or b >= 0x7f:
            out.append("\\x%02x" % b)
        else:
            out.append(chr(b))
    text = "".join(out)
    return "\\x2d" if text == "-" else text


def as_text(s):
    """What a name reads as once written: invalid UTF-8 replaced."""
    if isinstance(s, bytes):
        return s.decode("utf-8", "replace")
    return s


class Synth:
    """A synthetic profile, as fixture input and as a reference model."""

    def __init__(self, rate=100):
        self.funcs = []         # (filename, firstlineno, name, qualname)
        self.stacks = []        # (pid, tid, count, truncated, [(func, line)])
        self.targets = []
        self.meta = {"rate": rate, "duration": 1.5}

    def func(self, filename, firstlineno, name, qualname=None):
        self.funcs.append((filename, firstlineno, name, qualname))
        return len(self.funcs) - 1

    def stack(self, frames, count, pid=100, tid=1, truncated=False):
        frames = [f if isinstance(f, tuple) else (f, -1) for f in frames]
        self.stacks.append((pid, tid, count, truncated, frames))

    def target(self, pid, state, version, cmdline, reason=None):
        self.targets.append((pid, state, version, cmdline, reason))

    @property
    def period(self):
        return self.meta.get("period") or 1.0 / self.meta["rate"]

    @property
    def total(self):
        return sum(s[2] for s in self.stacks)

    def text(self):
        lines = ["META " + " ".join("%s=%s" % kv for kv in self.meta.items())]
        for i, (filename, first, name, qualname) in enumerate(self.funcs):
            fields = ["FUNC", str(i), esc(filename), str(first), esc(name)]
            if qualname is not None:
                fields.append(esc(qualname))
            lines.append("\t".join(fields))
        for pid, state, version, cmdline, reason in self.targets:
            fields = ["TARGET", str(pid), state, esc(version), esc(cmdline)]
            if reason is not None:
                fields.append(esc(reason))
            lines.append("\t".join(fields))
        for pid, tid, count, truncated, frames in self.stacks:
            lines.append("STACK %d %d %d %d %s" % (
                pid, tid, count, 1 if truncated else 0,
                ",".join("%d:%d" % f for f in frames)))
        return "\n".join(lines) + "\n"

    def key(self, f):
        filename, first, name, _ = self.funcs[f]
        return (as_text(filename), first, as_text(name))

    def expected_pstats(self):
        """The pstats dict, computed from first principles."""
        cum, self_, edges, edge_self = {ROOT_KEY: 0}, {}, {}, {}
        for _, _, count, truncated, frames in self.stacks:
            path = [ROOT_KEY] + ([TRUNC_KEY] if truncated else [])
            path += [self.key(f) for f, _ in frames]
            for k in set(path):
                cum[k] = cum.get(k, 0) + count
            for e in set(zip(path, path[1:])):
                edges[e] = edges.get(e, 0) + count
            self_[path[-1]] = self_.get(path[-1], 0) + count
            leaf = (path[-2], path[-1])
            edge_self[leaf] = edge_self.get(leaf, 0) + count
        period = self.period
        out = {}
        for k, c in cum.items():
            callers = {}
            for (caller, callee), n in edges.items():
                if callee == k:
                    callers[caller] = (n, n, edge_self.get((caller, callee), 0) * period,
                                       n * period)
            out[k] = (c, c, self_.get(k, 0) * period, c * period, callers)
        return out

    def expected_folded(self):
        lines = {}
        for _, _, count, truncated, frames in self.stacks:
            parts = ["[truncated]"] if truncated else []
            for f, line in frames:
                filename, first, name, qualname = self.funcs[f]
                shown = as_text(qualname if qualname else name)
                # -1: a line not known, shown as such (never the first line)
                parts.append("%s (%s:%s)" % (fold_escape(shown), fold_escape(as_text(filename)),
                                             line if line >= 0 else "?"))
            text = ";".join(parts)
            lines[text] = lines.get(text, 0) + count
        return lines


def fold_escape(s):
    out = []
    for ch in s:
        if ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0:
            out.append("\\x%02x" % ord(ch))
        elif ch in "\u2028\u2029":
            out.append("\\u%04x" % ord(ch))
        elif ch == ";":
            out.append(":")
        else:
            out.append(ch)
    return "".join(out)


def run_fixture(tmp_path, synth, *args, check=True, **kwargs):
    inp = tmp_path / "profile.txt"
    inp.write_text(synth.text())
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    r = subprocess.run([fixture()] + [str(a) for a in args] + [str(inp)], **kwargs)
    if check:
        assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r


def write_pstats(tmp_path, synth, name="out.prof"):
    out = tmp_path / name
    run_fixture(tmp_path, synth, "--pstats", out)
    return out


def report(tmp_path, synth, *args):
    r = run_fixture(tmp_path, synth, "--report", "-", *args)
    return r.stdout.decode("utf-8")


def table_rows(text):
    """(self, cum, filename, lineno, function) of each table row."""
    rows, in_table = [], False
    for line in text.splitlines():
        if line.rstrip().endswith("filename:lineno(function)"):
            in_table = True
            continue
        if not in_table or line.startswith("..."):
            continue
        m = re.match(r"\s*(\d+)\s+[\d.]+%\s+(\d+)\s+[\d.]+%\s+[\d.]+\s+[\d.]+  (.*):(-?\d+)\((.*)\)$",
                     line)
        assert m, "bad row: %r" % line
        rows.append((int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4)),
                     m.group(5)))
    return rows


def random_synth(seed, recursion=True, truncation=True):
    rnd = random.Random(seed)
    s = Synth(rate=97)
    files = ["/srv/app/views.py", "/srv/app/models.py", "/usr/lib/python3/json/decoder.py"]
    ids = []
    for i in range(14):
        ids.append(s.func(files[i % 3], 10 * i + 1, "f%d" % i, "C%d.f%d" % (i % 4, i)))
    # same pstats key, other qualname: must merge with f3
    ids.append(s.func(files[0], 31, "f3", "Other.f3"))
    for _ in range(60):
        depth = rnd.randint(1, 9)
        if recursion:
            frames = [rnd.choice(ids) for _ in range(depth)]
        else:
            frames = rnd.sample(ids[:14], min(depth, 14))
        frames = [(f, rnd.choice([-1, rnd.randint(1, 200)])) for f in frames]
        s.stack(frames, rnd.randint(1, 50), pid=rnd.choice([100, 200]),
                tid=rnd.randint(1, 4), truncated=truncation and rnd.random() < 0.15)
    return s


# -- pstats -----------------------------------------------------------------

CHECK_SCRIPT = r"""
import io, json, marshal, pstats, sys
path = sys.argv[1]
out = io.StringIO()
st = pstats.Stats(path, stream=out)
st.sort_stats("cumulative").print_stats()
st.print_callers()
st.print_callees()
st.calc_callees()
with open(path, "rb") as f:
    raw = marshal.load(f)
assert isinstance(raw, dict) and raw
nocallers = [k for k, v in raw.items() if not v[4]]
assert len(nocallers) == 1, nocallers
for k, v in raw.items():
    assert isinstance(k, tuple) and len(k) == 3, k
    assert isinstance(k[0], str) and isinstance(k[1], int) and isinstance(k[2], str), k
    assert isinstance(v, tuple) and len(v) == 5, v
    for ck, cv in v[4].items():
        assert isinstance(ck, tuple) and len(ck) == 3, ck
        assert isinstance(cv, tuple) and len(cv) == 4, (k, ck, cv)
print(json.dumps(sorted([list(k), list(v[:4]), sorted([list(ck), list(cv)] for ck, cv in v[4].items())]
                        for k, v in raw.items())))
"""


def canonical(raw):
    return sorted([list(k), list(v[:4]), sorted([list(ck), list(cv)] for ck, cv in v[4].items())]
                  for k, v in raw.items())


def rich_synth():
    """Recursion, truncation, odd strings and counts past int32."""
    s = random_synth(1)
    a = s.func("/srv/caf\u00e9/\u65e5\u672c.py", 5, "na\u00efve", "K.na\u00efve")
    b = s.func(b"/srv/bad\xff\xfe.py", 7, b"x\xc3(\xed\xa0\x80\xf4\x90\x80\x80", None)
    c = s.func("/srv/" + "long/" * 80 + "mod.py", 9, "ctl\n\x1b[31m;\t", "K.ctl\n\x1b[31m;\t")
    s.stack([a, b, c], 3 * 2 ** 31)
    s.stack([c, c, c], 5, truncated=True)
    return s


@pytest.mark.parametrize("python", INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
@pytest.mark.parametrize("kind", ["rich", "empty"])
def test_pstats_loads_in_every_interpreter(tmp_path, python, kind):
    label, path, _ = python
    if not os.access(path, os.X_OK):
        pytest.skip("skipped: %s not found at %s" % (label, path))
    synth = rich_synth() if kind == "rich" else Synth()
    out = write_pstats(tmp_path, synth)
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    r = subprocess.run([path, "-c", CHECK_SCRIPT, str(out)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    with open(out, "rb") as f:
        assert json.loads(r.stdout) == json.loads(json.dumps(canonical(marshal.load(f))))


@pytest.mark.parametrize("seed", range(6))
def test_pstats_matches_reference_model(tmp_path, seed):
    synth = random_synth(seed)
    with open(write_pstats(tmp_path, synth), "rb") as f:
        raw = marshal.load(f)
    expected = synth.expected_pstats()
    assert set(raw) == set(expected)
    for k, v in expected.items():
        got = raw[k]
        assert got[:2] == v[:2], k
        assert got[2:4] == pytest.approx(v[2:4]), k
        assert set(got[4]) == set(v[4]), k
        for ck, cv in v[4].items():
            assert got[4][ck][:2] == cv[:2], (k, ck)
            assert got[4][ck][2:] == pytest.approx(cv[2:]), (k, ck)


def test_pstats_shape(tmp_path):
    synth = rich_synth()
    with open(write_pstats(tmp_path, synth), "rb") as f:
        raw = marshal.load(f)
    assert [k for k, v in raw.items() if not v[4]] == [ROOT_KEY]
    assert raw[ROOT_KEY][:2] == (synth.total, synth.total)
    assert raw[ROOT_KEY][3] == pytest.approx(synth.total * synth.period)
    for k, (cc, nc, tt, ct, callers) in raw.items():
        assert cc == nc and isinstance(cc, int)
        assert isinstance(tt, float) and isinstance(ct, float)
        for cv in callers.values():
            assert len(cv) == 4 and cv[0] == cv[1]
    # the pstats key is co_name: the qualname never appears in it
    assert not any(k[2].startswith("C1.") for k in raw)
    # a count past int32 survives
    assert max(v[0] for v in raw.values()) == synth.total > 2 ** 31


def test_recursion_counted_once(tmp_path):
    s = Synth(rate=100)
    a = s.func("r.py", 1, "a")
    b = s.func("r.py", 5, "b")
    s.stack([a, b, a, b], 10)
    with open(write_pstats(tmp_path, s), "rb") as f:
        raw = marshal.load(f)
    ka, kb = ("r.py", 1, "a"), ("r.py", 5, "b")
    assert raw[ka][:2] == (10, 10) and raw[kb][:2] == (10, 10)
    assert raw[ka][3] == pytest.approx(0.1) and raw[kb][3] == pytest.approx(0.1)
    assert raw[kb][2] == pytest.approx(0.1) and raw[ka][2] == 0
    assert raw[kb][4] == {ka: (10, 10, pytest.approx(0.1), pytest.approx(0.1))}
    assert raw[ka][4] == {ROOT_KEY: (10, 10, 0.0, pytest.approx(0.1)),
                          kb: (10, 10, 0.0, pytest.approx(0.1))}
    text = report(tmp_path, s)
    assert {(r[4], r[0], r[1]) for r in table_rows(text)} == {("a", 0, 10), ("b", 10, 10)}


@pytest.mark.parametrize("recursion", [False, True])
def test_edge_sums(tmp_path, recursion):
    synth = random_synth(7, recursion=recursion)
    with open(write_pstats(tmp_path, synth), "rb") as f:
        raw = marshal.load(f)
    callees = {k: [] for k in raw}
    for k, v in raw.items():
        # each self sample has exactly one direct caller
        assert sum(cv[2] for cv in v[4].values()) == pytest.approx(v[2])
        for ck, cv in v[4].items():
            callees[ck].append(cv)
            assert cv[0] <= v[0] and cv[0] <= raw[ck][0]
        if not recursion and k != ROOT_KEY:
            # without recursion a function has one direct caller per sample
            assert sum(cv[0] for cv in v[4].values()) == v[0]
    if not recursion:
        for k, v in raw.items():
            assert sum(cv[3] for cv in callees[k]) <= v[3] + 1e-9
            assert sum(cv[3] for cv in callees[k]) == pytest.approx(v[3] - v[2])


def test_same_key_is_one_function(tmp_path):
    s = Synth()
    x = s.func("k.py", 3, "run", "A.run")
    y = s.func("k.py", 3, "run", "B.run")
    s.stack([x], 4)
    s.stack([y], 6, tid=2)
    with open(write_pstats(tmp_path, s), "rb") as f:
        raw = marshal.load(f)
    assert raw[("k.py", 3, "run")][:2] == (10, 10)
    rows = table_rows(report(tmp_path, s))
    assert [(r[2], r[3], r[0], r[1]) for r in rows] == [("k.py", 3, 10, 10)]


def test_empty_profile(tmp_path):
    s = Synth()
    out = write_pstats(tmp_path, s)
    with open(out, "rb") as f:
        assert marshal.load(f) == {ROOT_KEY: (0, 0, 0.0, 0.0, {})}
    st = pstats.Stats(str(out))
    assert st.total_calls == 0
    folded = tmp_path / "out.folded"
    run_fixture(tmp_path, s, "--folded", folded)
    assert folded.read_bytes() == b""
    text = report(tmp_path, s)
    assert "No Python samples were recorded." in text
    assert table_rows(text) == []


CPROFILED = """\
def helper(n):
    return sum(range(n))


class K:
    def method(self):
        return helper(1000)


def main():
    for _ in range(3):
        K().method()


main()
"""


def test_cprofile_merge(tmp_path):
    script = tmp_path / "script.py"
    script.write_text(CPROFILED)
    cprof = tmp_path / "cprofile.out"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(cprof), str(script)],
                   check=True, cwd=str(tmp_path), stdout=subprocess.DEVNULL)
    with open(cprof, "rb") as f:
        theirs = marshal.load(f)
    keys = {k[2]: k for k in theirs if k[0].endswith("script.py")}
    assert {"helper", "method", "main"} <= set(keys)

    s = Synth(rate=1000)
    ids = {}
    for name, qual in [("<module>", "<module>"), ("main", "main"), ("method", "K.method"),
                       ("helper", "helper")]:
        k = keys.get(name, (keys["main"][0], 1, name))
        ids[name] = s.func(k[0], k[1], k[2], qual)
    s.stack([ids["<module>"], ids["main"], ids["method"], ids["helper"]], 7)
    s.stack([ids["<module>"], ids["main"]], 2)
    ours = write_pstats(tmp_path, s, "refbpf.out")

    merged = pstats.Stats(str(cprof))
    merged.add(str(ours))
    for name in ("main", "method", "helper"):
        k = keys[name]
        assert k in merged.stats
        assert merged.stats[k][1] == theirs[k][1] + (9 if name == "main" else 7)
    # the qualname never becomes a key of its own
    assert not any(k[2] == "K.method" for k in merged.stats)
    # caller edges merge too, still as 4-tuples
    edge = merged.stats[keys["helper"]][4][keys["method"]]
    assert len(edge) == 4 and edge[0] == theirs[keys["helper"]][4][keys["method"]][0] + 7
    merged.sort_stats("cumulative").print_stats(0)


# -- strings from the target ------------------------------------------------

NASTY = "evil\nname\x1b[31m;\t\r\x7f\u009b\u202e\u2028"


def nasty_synth():
    s = Synth()
    m = s.func("/srv/a\rb\x1b]0;pwned\x07.py", 1, "<module>")
    n = s.func("/srv/n.py", 10, NASTY, "Q." + NASTY)
    s.stack([m, (n, 12)], 5)
    s.target(100, "profiled", "3.12.1", "python -c 'x'\n\x1b[2J")
    s.target(101, "not_profiled", None, None, "bad\x1b[H reason")
    return s


def assert_no_controls(text, allowed="\n"):
    bad = [c for c in text if (ord(c) < 0x20 and c not in allowed) or 0x7f <= ord(c) < 0xa0
           or 0x202a <= ord(c) <= 0x202e]
    assert not bad, bad


def test_report_escapes_control_characters(tmp_path):
    text = report(tmp_path, nasty_synth())
    assert_no_controls(text)
    assert "Q.evil\\nname\\x1b[31m;\\t\\r\\x7f\\u009b\\u202e\u2028" in text
    assert "/srv/a\\rb\\x1b]0;pwned\\x07.py:1(<module>)" in text
    assert "python -c 'x'\\n\\x1b[2J" in text
    assert "not profiled: bad\\x1b[H reason" in text


def test_folded_escapes_control_characters(tmp_path):
    s = nasty_synth()
    out = tmp_path / "out.folded"
    run_fixture(tmp_path, s, "--folded", out)
    text = out.read_text("utf-8")
    # bidi controls do not break the format: only the report escapes them
    assert_no_controls(text.replace("\u202e", ""))
    assert "\u2028" not in text
    lines = text.splitlines()
    assert len(lines) == 1
    frames, count = lines[0].rsplit(" ", 1)
    assert count == "5"
    assert frames.split(";") == [
        "<module> (/srv/a\\x0db\\x1b]0:pwned\\x07.py:?)",  # a frame given no line
        "Q.evil\\x0aname\\x1b[31m:\\x09\\x0d\\x7f\\x9b\u202e\\u2028 (/srv/n.py:12)"]


def test_pstats_keeps_exact_names(tmp_path):
    s = nasty_synth()
    with open(write_pstats(tmp_path, s), "rb") as f:
        raw = marshal.load(f)
    assert ("/srv/n.py", 10, NASTY) in raw
    assert ("/srv/a\rb\x1b]0;pwned\x07.py", 1, "<module>") in raw


def test_invalid_utf8(tmp_path):
    s = Synth()
    bad_names = [b"\xff", b"a\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                 b"\xe0\xa0x", b"ok\xe2\x82\xac"]
    ids = [s.func(b"/srv/f\xfe.py", i, n) for i, n in enumerate(bad_names)]
    s.stack(ids, 3)
    with open(write_pstats(tmp_path, s), "rb") as f:
        raw = marshal.load(f)
    for i, n in enumerate(bad_names):
        assert ("/srv/f\ufffd.py", i, n.decode("utf-8", "replace")) in raw
    text = report(tmp_path, s)
    assert "\\xff" in text and "\\xed\\xa0\\x80" in text and "ok\u20ac" in text
    out = tmp_path / "out.folded"
    run_fixture(tmp_path, s, "--folded", out)
    out.read_bytes().decode("utf-8")


# -- report -----------------------------------------------------------------

def sort_synth():
    s = Synth(rate=100)
    alpha = s.func("z.py", 1, "alpha")
    beta = s.func("a.py", 2, "beta")
    gamma = s.func("m.py", 5, "gamma")
    delta = s.func("m.py", 50, "delta")
    epsilon = s.func("b.py", 3, "epsilon")
    s.stack([alpha, gamma], 3)
    s.stack([alpha, beta], 6)
    s.stack([alpha], 1)
    s.stack([epsilon], 6, tid=2)
    s.stack([delta], 2, tid=3)
    return s


SORTED = {
    "cumulative": ["alpha", "beta", "epsilon", "gamma", "delta"],
    "tottime": ["beta", "epsilon", "gamma", "delta", "alpha"],
    "name": ["alpha", "beta", "delta", "epsilon", "gamma"],
    "filename": ["beta", "epsilon", "delta", "gamma", "alpha"],
}
ALIASES = {"cumulative": "cumulative", "cumtime": "cumulative", "ncalls": "cumulative",
           "calls": "cumulative", "tottime": "tottime", "time": "tottime", "self": "tottime",
           "samples": "tottime", "name": "name", "filename": "filename", "file": "filename"}


@pytest.mark.parametrize("key", sorted(ALIASES))
def test_sort_keys(tmp_path, key):
    rows = table_rows(report(tmp_path, sort_synth(), "--sort", key))
    assert [r[4] for r in rows] == SORTED[ALIASES[key]]


def test_default_sort_is_cumulative(tmp_path):
    rows = table_rows(report(tmp_path, sort_synth()))
    assert [r[4] for r in rows] == SORTED["cumulative"]


def test_unknown_sort_key(tmp_path):
    r = run_fixture(tmp_path, sort_synth(), "--sort", "bogus", "--report", "-", check=False)
    assert r.returncode != 0 and b"bogus" in r.stderr


def test_table_values(tmp_path):
    text = report(tmp_path, sort_synth())
    line = [ln for ln in text.splitlines() if ln.endswith("z.py:1(alpha)")][0]
    assert line.split()[:6] == ["1", "5.6%", "10", "55.6%", "0.010", "0.100"]
    assert table_rows(text)[0] == (1, 10, "z.py", 1, "alpha")


def test_limit(tmp_path):
    text = report(tmp_path, sort_synth(), "--limit", "2")
    assert [r[4] for r in table_rows(text)] == ["alpha", "beta"]
    assert "... 3 more functions not shown" in text
    assert len(table_rows(report(tmp_path, sort_synth(), "--limit", "0"))) == 5
    assert "more function" not in report(tmp_path, sort_synth(), "--limit", "5")


def test_report_header(tmp_path):
    s = sort_synth()
    s.stack([0], 4, pid=200, tid=9, truncated=True)
    s.target(100, "profiled", "3.12.1", "python app.py")
    s.target(200, "exited", "3.11.7", "python worker.py")
    s.target(300, "not_profiled", None, None, "no libpython in its maps")
    s.meta.update(duration=2.5, lost=3, err0=1, err1=2, err2=4, err3=5, err4=6)
    lines = report(tmp_path, s).splitlines()
    assert lines[0] == ("refbpf: PID 100 (Python 3.12.1), PID 200 (Python 3.11.7), "
                        "PID 300 (not profiled); 2.50 s at 100 Hz, cpu mode; 22 samples, 4 threads")
    assert lines[1] == ("Samples lost: 3; not unwound: 18 (no thread state: 1, "
                        "no Python frame: 2, read fault: 4, ring buffer full: 5, "
                        "thread-state walk limit: 6); truncated stacks: 4; "
                        "samples on an unknown line: 22")  # sort_synth's frames give no line
    assert lines[2] == "  PID 100  Python 3.12.1  python app.py  18 samples"
    assert lines[3] == "  PID 200  Python 3.11.7  python worker.py  4 samples  exited during recording"
    assert lines[4] == "  PID 300  not profiled: no libpython in its maps"
    rows = table_rows("\n".join(lines))
    # the truncation marker is not a row, but its samples count
    assert all(not r[4].startswith("<") for r in rows)
    assert rows[0][:2] == (5, 14)


# -- folded -----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_folded_round_trip(tmp_path, seed):
    s = random_synth(seed)
    # a second thread with the same stacks: merged into the same lines
    for pid, tid, count, truncated, frames in list(s.stacks[:10]):
        s.stack(frames, count, pid=pid, tid=tid + 100, truncated=truncated)
    out = tmp_path / "out.folded"
    run_fixture(tmp_path, s, "--folded", out)
    lines = out.read_text("utf-8").splitlines()
    parsed = {}
    for line in lines:
        frames, count = line.rsplit(" ", 1)
        assert frames not in parsed
        parsed[frames] = int(count)
    assert parsed == s.expected_folded()
    assert sum(parsed.values()) == s.total
    assert [ln.encode() for ln in lines] == sorted(ln.encode() for ln in lines)
    assert any(ln.startswith("[truncated];") for ln in lines)


# -- atomic output ----------------------------------------------------------

def one_line_error(r, path):
    err = r.stderr.decode()
    assert r.returncode != 0
    assert err.count("\n") == 1 and err.startswith("refbpf: cannot write %s: " % path), err
    return err


def as_nobody():
    """Drop root in the child, so permission checks apply."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)


@pytest.mark.parametrize("option", ["--pstats", "--folded", "--speedscope", "--pprof", "--flamegraph", "--html",
                                    "--report"])
def test_unwritable_directory(option):
    base = tempfile.mkdtemp(prefix="refbpf-test-")
    try:
        os.chmod(base, 0o755)
        locked = os.path.join(base, "locked")
        os.mkdir(locked, 0o555)
        os.chmod(locked, 0o555)
        inp = os.path.join(base, "profile.txt")
        with open(inp, "w") as f:
            f.write(sort_synth().text())
        os.chmod(inp, 0o644)
        target = os.path.join(locked, "out")
        # a copy nobody can run, wherever the tree is (/root/refbpf is not)
        exe = os.path.join(base, "profile_fixture")
        shutil.copy(fixture(), exe)
        r = subprocess.run([exe, option, target, inp], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, preexec_fn=as_nobody)
        err = one_line_error(r, target)
        assert "Permission denied" in err
        assert os.listdir(locked) == []
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("where", ["missing-dir", "parent-is-file", "is-dir", "empty"])
def test_invalid_path(tmp_path, where):
    (tmp_path / "file").write_text("x")
    path = {"missing-dir": tmp_path / "nope" / "out.prof",
            "parent-is-file": tmp_path / "file" / "out.prof",
            "is-dir": tmp_path,
            "empty": ""}[where]
    before = sorted(os.listdir(tmp_path))
    r = run_fixture(tmp_path, sort_synth(), "--pstats", path, check=False)
    one_line_error(r, path)
    assert sorted(os.listdir(tmp_path)) == sorted(before + ["profile.txt"])


def test_full_device():
    synth = sort_synth()
    with tempfile.TemporaryDirectory() as d:
        inp = os.path.join(d, "p.txt")
        with open(inp, "w") as f:
            f.write(synth.text())
        r = subprocess.run([fixture(), "--pstats", "/dev/full", inp], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    assert "No space left on device" in one_line_error(r, "/dev/full")


def limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))


@pytest.mark.parametrize("option", ["--pstats", "--folded", "--speedscope", "--pprof", "--flamegraph", "--html",
                                    "--report"])
def test_write_error_keeps_old_file(tmp_path, option):
    """A write that fails half-way (disk full, quota) must leave the old file."""
    out = tmp_path / "out"
    out.write_text("old")
    r = run_fixture(tmp_path, random_synth(3), option, out, check=False,
                    preexec_fn=limit_file_size)
    assert "File too large" in one_line_error(r, out)
    assert out.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out", "profile.txt"]


def test_replaces_atomically(tmp_path):
    out = tmp_path / "out.prof"
    out.write_text("old")
    os.chmod(out, 0o600)
    link = tmp_path / "link.prof"
    link.symlink_to("out.prof")

    def umask():
        os.umask(0o022)
    run_fixture(tmp_path, sort_synth(), "--pstats", link, preexec_fn=umask)
    assert link.is_symlink()
    assert pstats.Stats(str(out)).total_tt > 0
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o644)
    assert sorted(os.listdir(tmp_path)) == ["link.prof", "out.prof", "profile.txt"]


def test_writes_to_non_regular_files(tmp_path):
    r = run_fixture(tmp_path, sort_synth(), "--pstats", "/dev/null", "--folded", "/dev/stdout")
    assert r.stdout.decode().count("\n") == 5
    assert os.path.islink("/dev/stdout") and stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("stdout", ["named", "unnamed"])
def test_dev_stdout_leading_to_a_file_is_written_in_place(tmp_path, stdout):
    """/dev/stdout leads to whatever the caller gave as standard output:
    here a regular file, named or already unlinked (as a test runner's
    capture file is). It is written through, never replaced by a rename,
    which would replace /dev/stdout itself on the way."""
    if stdout == "named":
        out = open(tmp_path / "stdout.txt", "w+b")
    else:
        out = tempfile.TemporaryFile(dir=tmp_path)
    with out:
        inode = os.fstat(out.fileno()).st_ino
        run_fixture(tmp_path, sort_synth(), "--folded", "/dev/stdout", stdout=out,
                    stderr=subprocess.PIPE)
        out.seek(0)
        assert out.read().decode().count("\n") == 5
        if stdout == "named":
            assert os.stat(tmp_path / "stdout.txt").st_ino == inode
    assert os.path.islink("/dev/stdout")


def test_dev_shm_is_a_file_system_like_any_other(tmp_path):
    out = "/dev/shm/refbpf-test-%d.folded" % os.getpid()
    try:
        run_fixture(tmp_path, sort_synth(), "--folded", out)
        with open(out) as f:
            assert f.read().count("\n") == 5
    finally:
        if os.path.exists(out):
            os.unlink(out)


def test_a_name_under_dev_is_never_created(tmp_path):
    missing = "/dev/refbpf-test-%d" % os.getpid()
    r = run_fixture(tmp_path, sort_synth(), "--folded", missing, check=False)
    assert r.returncode != 0 and not os.path.exists(missing)
    err = r.stderr.decode()
    assert err.count("\n") == 1 and missing in err and "No such file" in err, err


# -- the model at scale -----------------------------------------------------

def test_many_samples(tmp_path):
    r = run_fixture(tmp_path, Synth(), "--stress", "2000000", "--pstats", tmp_path / "s.prof",
                    timeout=120)
    assert r.stdout.decode().split() == ["stacks=500000", "threads=64", "samples=2000000"]
    st = pstats.Stats(str(tmp_path / "s.prof"))
    assert st.stats[ROOT_KEY][0] == 2000000
