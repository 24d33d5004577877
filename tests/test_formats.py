"""The speedscope (--speedscope) and pprof (--pprof) writers, through
tests/tools/profile_fixture.c and `refbpf report`: no root needed, except
for the last test, which records a real target.

speedscope files are validated against the JSON schema speedscope's own npm
package ships (scripts/fetch-node-tools.sh fetches it); pprof files are
decoded here by hand (a small protobuf reader) and read by `go tool pprof`,
whose numbers must agree with refbpf's report. Expected values come from
the Synth reference model of test_writers.py, not from the C code.
"""
import collections
import gzip
import json
import marshal
import os
import random
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from test_raw import RAW, report as raw_report
from test_writers import Synth, as_text, esc, run_fixture, table_rows

SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
TRUNC = "<truncated stack>"


class ThreadSynth(Synth):
    """Synth plus thread names (THREAD records, after the stacks)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.thread_names = {}

    def thread(self, pid, tid, name):
        self.thread_names[(pid, tid)] = name

    def text(self):
        lines = ["THREAD\t%d\t%d\t%s" % (pid, tid, esc(name))
                 for (pid, tid), name in self.thread_names.items()]
        return super().text() + "\n".join(lines) + "\n"

    def shown(self, f):
        """A function's displayed name: its qualified name, else its name."""
        filename, first, name, qualname = self.funcs[f]
        return as_text(qualname if qualname else name)

    def thread_label(self, pid, tid):
        name = self.thread_names.get((pid, tid))
        return "PID %d %s (tid %d)" % (pid, as_text(name), tid) if name else \
            "PID %d (tid %d)" % (pid, tid)


def formats_synth(seed, files=("/srv/app/views.py", "/srv/app/models.py", "/usr/lib/json.py")):
    """Random stacks over functions whose (qualname, file) and pstats keys
    are both unique, so pprof's rows and the report's rows correspond one
    to one; names pprof would mangle if written carelessly included."""
    rnd = random.Random(seed)
    s = ThreadSynth(rate=97)
    ids = []
    for i in range(12):
        ids.append(s.func(files[i % 3], 10 * i + 1, "f%d" % i, "C%d.f%d" % (i % 4, i)))
    ids.append(s.func(files[0], 1, "<module>"))
    ids.append(s.func(files[1], 200, "<lambda>", "make.<locals>.<lambda>"))
    ids.append(s.func(files[2], 300, "<listcomp>"))
    ids.append(s.func(files[2], 310, "operator[]", "T::operator[]"))
    for _ in range(50):
        frames = [(rnd.choice(ids), rnd.choice([-1, rnd.randint(1, 400)]))
                  for _ in range(rnd.randint(1, 8))]
        s.stack(frames, rnd.randint(1, 40), pid=rnd.choice([100, 200]),
                tid=rnd.randint(1, 4), truncated=rnd.random() < 0.15)
    for pid in (100, 200):
        for tid in (1, 2, 3):
            if any(st[0] == pid and st[1] == tid for st in s.stacks):
                s.thread(pid, tid, "worker-%d" % tid)
    return s


def hostile_synth():
    s = ThreadSynth(rate=100)
    evil = b'<script>alert("x")</script> \\ \x01\x1b[2J\n\t\x7f\xc2\x85 \xe2\x80\xa8 \xe2\x80\xae' \
           b' bad:\xff\xfe \xe2\x82 \xf0\x9f\x90\x8d end'
    a = s.func(b"/srv/\xff\"evil\n.py", 7, evil, evil + b".q")
    b = s.func("/srv/ok.py", 1, "<module>")
    s.stack([(b, 3), (a, 9)], 5, pid=10, tid=11)
    s.stack([(b, 4)], 2, pid=10, tid=12)
    s.thread(10, 11, b'w\x1b"<\xff>\n')
    s.thread(10, 12, "\u202eevil")
    s.target(10, "profiled", "3.12.1", b"python3 \xff\x1b[31m </script>")
    return s


# -- tools --------------------------------------------------------------------

@pytest.fixture(scope="session")
def speedscope_schema():
    """speedscope's own schema, from its npm package (fetched once, cached)."""
    try:
        import jsonschema
    except ImportError:
        pytest.skip("skipped: python3-jsonschema is not installed (make deps installs it)")
    r = subprocess.run([os.path.join(ROOT, "scripts", "fetch-node-tools.sh")],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip("skipped: cannot get speedscope's schema: %s" % r.stderr.strip())
    with open(r.stdout.strip().splitlines()[-1]) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="session")
def go():
    path = shutil.which("go")
    if not path:
        pytest.skip("skipped: go is not installed (golang-go; make deps installs it)")
    return path


# -- speedscope -----------------------------------------------------------------

def load_speedscope(path):
    data = path.read_bytes()
    text = data.decode("utf-8")         # strict: the file must be valid UTF-8
    # no raw control character anywhere: everything is escaped
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", text.rstrip("\n")), \
        text
    return json.loads(text)


def write_speedscope(tmp_path, synth, name="out.json"):
    out = tmp_path / name
    run_fixture(tmp_path, synth, "--speedscope", out)
    return load_speedscope(out)


def expected_threads(synth):
    """{(pid, tid): {frame-index tuple: count}}, frames per function."""
    nfuncs = len(synth.funcs)
    out = {}
    for pid, tid, count, truncated, frames in synth.stacks:
        key = ((nfuncs,) if truncated else ()) + tuple(f for f, _ in frames)
        d = out.setdefault((pid, tid), {})
        d[key] = d.get(key, 0) + count
    return out


def speedscope_counts(doc, period):
    """{profile name: {frame-index tuple: count}} back from the weights."""
    out = {}
    for prof in doc["profiles"]:
        d = out.setdefault(prof["name"], {})
        for stack, w in zip(prof["samples"], prof["weights"]):
            count = round(w / period) if prof["unit"] == "seconds" else w
            if prof["unit"] == "seconds":
                assert w == pytest.approx(count * period, rel=1e-9, abs=1e-12)
            d[tuple(stack)] = d.get(tuple(stack), 0) + count
    return out


@pytest.mark.parametrize("seed", range(4))
def test_speedscope_valid_against_schema(tmp_path, speedscope_schema, seed):
    doc = write_speedscope(tmp_path, formats_synth(seed))
    speedscope_schema.validate(doc)
    assert doc["$schema"] == SCHEMA_URL and doc["exporter"] == "refbpf"


def test_speedscope_frames_exact(tmp_path):
    s = formats_synth(1)
    doc = write_speedscope(tmp_path, s)
    frames = doc["shared"]["frames"]
    for i, (filename, first, name, qualname) in enumerate(s.funcs):
        assert frames[i] == {"name": s.shown(i), "file": as_text(filename), "line": first}, i
    truncated = any(st[3] for st in s.stacks)
    assert truncated
    assert frames[len(s.funcs):] == [{"name": TRUNC}]


def test_speedscope_threads_and_samples(tmp_path):
    s = formats_synth(2)
    doc = write_speedscope(tmp_path, s)
    expected = expected_threads(s)
    period = round(1e9 / 97) / 1e9     # the period is rounded to the nanosecond
    got = speedscope_counts(doc, period)
    names = [s.thread_label(pid, tid) for pid, tid in sorted(expected)]
    assert [p["name"] for p in doc["profiles"]] == names        # sorted by (pid, tid)
    assert got == {s.thread_label(*k): v for k, v in expected.items()}
    totals = {}
    for pid, tid, count, _, _ in s.stacks:
        totals[(pid, tid)] = totals.get((pid, tid), 0) + count
    for prof, key in zip(doc["profiles"], sorted(expected)):
        assert prof["type"] == "sampled" and prof["unit"] == "seconds"
        assert prof["startValue"] == 0
        assert prof["endValue"] == pytest.approx(totals[key] * period, rel=1e-12)
        assert sum(prof["weights"]) == pytest.approx(prof["endValue"], rel=1e-12)
        # one entry per distinct stack of functions
        assert len(prof["samples"]) == len({tuple(x) for x in prof["samples"]})
    busiest = max(sorted(totals), key=lambda k: totals[k])
    assert doc["profiles"][doc["activeProfileIndex"]]["name"] == s.thread_label(*busiest)
    assert sum(totals.values()) == s.total


def test_speedscope_counts_without_a_period(tmp_path, speedscope_schema):
    s = formats_synth(3)
    s.meta = {"duration": 1.5}          # no rate, no period: weights are counts
    doc = write_speedscope(tmp_path, s)
    speedscope_schema.validate(doc)
    assert {p["unit"] for p in doc["profiles"]} == {"none"}
    assert all(isinstance(w, int) for p in doc["profiles"] for w in p["weights"])
    assert speedscope_counts(doc, None) == {s.thread_label(*k): v
                                            for k, v in expected_threads(s).items()}


def test_speedscope_hostile_names_stay_valid(tmp_path, speedscope_schema):
    s = hostile_synth()
    doc = write_speedscope(tmp_path, s)
    speedscope_schema.validate(doc)
    frames = doc["shared"]["frames"]
    assert frames[0]["name"] == s.shown(0)
    assert frames[0]["file"] == as_text(s.funcs[0][0])
    assert "\n" in frames[0]["name"] and "\ufffd" in frames[0]["name"]
    assert [p["name"] for p in doc["profiles"]] == [s.thread_label(10, 11),
                                                    s.thread_label(10, 12)]


def test_speedscope_empty_profile(tmp_path, speedscope_schema):
    s = ThreadSynth()
    doc = write_speedscope(tmp_path, s)
    speedscope_schema.validate(doc)
    assert len(doc["profiles"]) == 1 and doc["profiles"][0]["samples"] == []
    assert doc["profiles"][0]["endValue"] == 0


# -- pprof: a small protobuf reader ---------------------------------------------

def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7f) << shift
        if b < 0x80:
            return v, i
        shift += 7
        assert shift < 70, "varint too long"


def fields(buf):
    """[(field, wire type, value)]: an int for varints, bytes otherwise."""
    out, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v = bytes(buf[i:i + n])
            assert len(v) == n, "truncated field %d" % field
            i += n
        else:
            raise AssertionError("unexpected wire type %d (field %d)" % (wt, field))
        out.append((field, wt, v))
    return out


def ints(fs, field):
    """A repeated integer field, packed or not."""
    out = []
    for f, wt, v in fs:
        if f != field:
            continue
        if wt == 0:
            out.append(v)
            continue
        i = 0
        while i < len(v):
            x, i = varint(v, i)
            out.append(x)
    return out


def one(fs, field, default=0):
    vals = [v for f, _, v in fs if f == field]
    assert len(vals) <= 1, "field %d repeated" % field
    return vals[0] if vals else default


def signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def decode_pprof(path):
    """profile.proto, read by hand into plain Python values."""
    raw = gzip.decompress(path.read_bytes())
    top = fields(raw)
    strings = [v.decode("utf-8") for f, _, v in top if f == 6]     # strict UTF-8
    assert strings and strings[0] == ""

    def s(i):
        return strings[i]

    def value_type(b):
        fs = fields(b)
        return (s(one(fs, 1)), s(one(fs, 2)))

    functions, locations, samples, mappings = {}, {}, [], []
    for f, _, v in top:
        fs = fields(v) if f in (1, 2, 3, 4, 5, 11) else None
        if f == 5:
            fid = one(fs, 1)
            assert fid and fid not in functions
            functions[fid] = {"name": s(one(fs, 2)), "system_name": s(one(fs, 3)),
                              "filename": s(one(fs, 4)), "start_line": signed(one(fs, 5))}
        elif f == 4:
            lid = one(fs, 1)
            assert lid and lid not in locations
            lines = [fields(b) for fn, _, b in fs if fn == 4]
            locations[lid] = {"mapping": one(fs, 2), "address": one(fs, 3),
                              "lines": [(one(l, 1), signed(one(l, 2))) for l in lines]}
        elif f == 2:
            labels = {}
            for fn, _, b in fs:
                if fn == 3:
                    lf = fields(b)
                    key = s(one(lf, 1))
                    assert key not in labels
                    labels[key] = s(one(lf, 2)) if one(lf, 2) else one(lf, 3)
            samples.append({"locations": ints(fs, 1), "values": [signed(x) for x in ints(fs, 2)],
                            "labels": labels})
        elif f == 3:
            mappings.append({"id": one(fs, 1), "has_functions": one(fs, 7)})
    return {
        "strings": strings,
        "sample_type": [value_type(v) for f, _, v in top if f == 1],
        "period_type": value_type(one(top, 11)),
        "period": one(top, 12),
        "duration_nanos": one(top, 10),
        "time_nanos": one(top, 9),
        "comments": [s(i) for i in ints(top, 13)],
        "functions": functions,
        "locations": locations,
        "samples": samples,
        "mappings": mappings,
    }


def write_pprof(tmp_path, synth, name="out.pb.gz"):
    out = tmp_path / name
    run_fixture(tmp_path, synth, "--pprof", out)
    return out


def resolved_samples(prof):
    """[(pid, tid, thread name, ((name, file, start, line), ... leaf first), values)]"""
    out = []
    for smp in prof["samples"]:
        frames = []
        for lid in smp["locations"]:
            loc = prof["locations"][lid]
            assert len(loc["lines"]) == 1
            fid, line = loc["lines"][0]
            fn = prof["functions"][fid]
            frames.append((fn["name"], fn["filename"], fn["start_line"], line))
        lab = smp["labels"]
        out.append((lab["pid"], lab["tid"], lab.get("thread_name"), tuple(frames),
                    tuple(smp["values"])))
    return sorted(out, key=repr)


def expected_samples(s, period_ns):
    out = []
    for pid, tid, count, truncated, frames in s.stacks:
        fr = []
        for f, line in reversed(frames):
            filename, first, name, qualname = s.funcs[f]
            # pprof's line 0: not known
            fr.append((s.shown(f), as_text(filename), first, line if line >= 0 else 0))
        if truncated:
            fr.append((TRUNC, "~", 0, 0))
        name = s.thread_names.get((pid, tid))
        out.append((pid, tid, as_text(name) if name is not None else None, tuple(fr),
                    (count, count * period_ns)))
    return sorted(out, key=repr)


@pytest.mark.parametrize("seed", range(3))
def test_pprof_decodes_to_the_profile(tmp_path, seed):
    s = formats_synth(seed)
    prof = decode_pprof(write_pprof(tmp_path, s))
    period_ns = round(1e9 / 97)
    assert prof["sample_type"] == [("samples", "count"), ("cpu", "nanoseconds")]
    assert prof["period_type"] == ("cpu", "nanoseconds")
    assert prof["period"] == period_ns
    assert prof["duration_nanos"] == 1500000000
    assert prof["time_nanos"] == 0
    # the string table: "" first, sorted, no duplicates
    assert prof["strings"] == sorted(set(prof["strings"]))
    # functions: exactly the sampled ones (and the truncation marker), exact fields
    want = {}
    for f, (filename, first, name, qualname) in enumerate(s.funcs):
        if any(f == fr for st in s.stacks for fr, _ in st[4]):
            shown = s.shown(f)
            want[shown, as_text(filename)] = {
                "name": shown, "filename": as_text(filename), "start_line": first,
                "system_name": as_text(name) if as_text(name) != shown else ""}
    if any(st[3] for st in s.stacks):
        want[TRUNC, "~"] = {"name": TRUNC, "filename": "~", "start_line": 0, "system_name": ""}
    got = {(fn["name"], fn["filename"]): fn for fn in prof["functions"].values()}
    assert got == want
    # one location per distinct (function, line), all in the one symbolized mapping
    seen = set()
    for loc in prof["locations"].values():
        assert loc["mapping"] == 1 and loc["address"] == 0
        assert tuple(loc["lines"][0]) not in seen
        seen.add(tuple(loc["lines"][0]))
    assert prof["mappings"] == [{"id": 1, "has_functions": 1}]
    assert resolved_samples(prof) == expected_samples(s, period_ns)


def test_pprof_hostile_names(tmp_path):
    s = hostile_synth()
    prof = decode_pprof(write_pprof(tmp_path, s))      # strict UTF-8 decoding inside
    names = {fn["name"] for fn in prof["functions"].values()}
    assert s.shown(0) in names                          # control characters kept exactly
    assert resolved_samples(prof) == expected_samples(s, 10000000)
    assert prof["comments"] == ["PID 10 Python 3.12.1: " + as_text(s.targets[0][3])]


def test_pprof_is_deterministic(tmp_path):
    s = formats_synth(5)
    a = write_pprof(tmp_path, s, "a.pb.gz").read_bytes()
    b = write_pprof(tmp_path, s, "b.pb.gz").read_bytes()
    assert a == b
    assert a[:2] == b"\x1f\x8b" and a[4:8] == b"\0\0\0\0"      # gzip, no mtime


def test_pprof_empty_profile(tmp_path, go):
    out = write_pprof(tmp_path, ThreadSynth())
    prof = decode_pprof(out)
    assert prof["samples"] == [] and prof["functions"] == {}
    r = subprocess.run([go, "tool", "pprof", "-raw", str(out)], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PPROF_TMPDIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    # go reads what we decode: the sample type and period, and no sample or
    # location at all
    lines = r.stdout.splitlines()
    assert "PeriodType: cpu nanoseconds" in lines and "Period: %d" % prof["period"] in lines, lines
    assert lines[lines.index("Samples:") + 1].split() == ["samples/count", "cpu/nanoseconds"]
    assert lines.index("Locations") == lines.index("Samples:") + 2, lines
    assert lines.index("Mappings") == lines.index("Locations") + 1, lines


TOP_ROW = re.compile(r"^\s*(\S+)\s+[\d.]+%\s+[\d.]+%\s+(\S+)\s+[\d.]+%\s+(.*)$")


def go_top(go, path, tmp_path, sample_index):
    """{(name, file): (flat, cum)} from `go tool pprof -top`, every node."""
    # -nodefraction=0: pprof otherwise drops nodes under 0.5% of the total
    cmd = [go, "tool", "pprof", "-top", "-nodecount=100", "-nodefraction=0", "-filefunctions",
           "-sample_index=" + sample_index, "-unit=ns", str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PPROF_TMPDIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    assert "Main binary filename not available" not in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.split() == ["flat", "flat%", "sum%", "cum",
                                                                  "cum%"])
    rows = {}
    for line in lines[start + 1:]:
        m = TOP_ROW.match(line)
        assert m, "bad pprof row: %r" % line
        parts = m.group(3).rsplit(" ", 1)
        assert len(parts) == 2 and parts[0], "pprof row without a name and file: %r" % line
        name, filename = parts
        num = [int(x[:-2] if x.endswith("ns") else x) for x in (m.group(1), m.group(2))]
        assert (name, filename) not in rows, line
        rows[name, filename] = tuple(num)
    return rows, r.stdout


@pytest.mark.parametrize("seed", range(3))
def test_go_pprof_agrees_with_the_report(tmp_path, go, seed):
    s = formats_synth(seed)
    out = tmp_path / "out.pb.gz"
    r = run_fixture(tmp_path, s, "--pprof", out, "--report", "-")
    text = r.stdout.decode("utf-8")
    rows = table_rows(text)
    m = re.search(r"truncated stacks: (\d+)", text)
    truncated = int(m.group(1)) if m else 0
    want = {(name, filename): (self_, cum) for self_, cum, filename, _, name in rows}
    assert len(want) == len(rows)          # (qualname, file) identifies a row here
    if truncated:
        want[TRUNC, "~"] = (0, truncated)
    counts, listing = go_top(go, out, tmp_path, "samples")
    assert counts == want, listing
    period_ns = round(1e9 / 97)
    times, listing = go_top(go, out, tmp_path, "cpu")
    assert times == {k: (a * period_ns, b * period_ns) for k, (a, b) in want.items()}, listing


# -- through refbpf itself ------------------------------------------------------

def test_report_writes_every_format_at_once(tmp_path, refbpf_bin, speedscope_schema):
    raw = tmp_path / "run.raw"
    raw.write_text(RAW)
    outs = {opt: tmp_path / name for opt, name in (
        ("-o", "p.prof"), ("--folded", "f.folded"), ("--speedscope", "s.json"),
        ("--pprof", "p.pb.gz"))}
    r = raw_report(refbpf_bin, raw, *[x for kv in outs.items() for x in kv])
    assert r.returncode == 0, r.stderr
    doc = load_speedscope(outs["--speedscope"])
    speedscope_schema.validate(doc)
    names = [p["name"] for p in doc["profiles"]]
    assert names == ["PID 100 main (tid 100)", "PID 100 w\x07rker (tid 101)"]
    prof = decode_pprof(outs["--pprof"])
    assert sum(smp["values"][0] for smp in prof["samples"]) == 105
    assert sum(smp["values"][1] for smp in prof["samples"]) == 105 * 10000000
    assert prof["duration_nanos"] == 2500000000
    assert len(prof["comments"]) == 2
    # the same again: byte-identical files
    again = tmp_path / "again.pb.gz"
    assert raw_report(refbpf_bin, raw, "--pprof", again, "--speedscope",
                      tmp_path / "again.json").returncode == 0
    assert again.read_bytes() == outs["--pprof"].read_bytes()
    assert (tmp_path / "again.json").read_bytes() == outs["--speedscope"].read_bytes()


def test_help_names_the_formats(refbpf_bin):
    out = subprocess.run([refbpf_bin, "--help"], capture_output=True, text=True).stdout
    assert "--speedscope FILE" in out and "--pprof FILE" in out


@pytest.mark.root
def test_recording_every_format_agrees_with_the_report(tmp_path, refbpf_bin, speedscope_schema):
    from profiling import Target, parse_folded, run_refbpf, target_path
    from pythons import find_interpreters

    label, path, version = [i for i in find_interpreters() if i[2] >= (3, 8)][-1]
    outs = {"--speedscope": tmp_path / "s.json", "--pprof": tmp_path / "p.pb.gz",
            "-o": tmp_path / "p.prof", "--folded": tmp_path / "f.folded"}
    with Target(path, target_path("threads.py"), 8, 3) as t:
        r = run_refbpf(refbpf_bin, ["-p", t.pid, "-d", 2, "-F", 199] +
                       [x for kv in outs.items() for x in kv])
    rows = table_rows(r.stdout)
    assert rows and all(p.exists() for p in outs.values())
    by_key = collections.Counter()
    for self_, cum, filename, lineno, name in rows:
        by_key[(name, filename, lineno)] += 1
    assert max(by_key.values()) == 1
    want = {(name, filename, lineno): (self_, cum) for self_, cum, filename, lineno, name in rows}

    # speedscope: self and cum per frame, summed over every thread's profile
    doc = load_speedscope(outs["--speedscope"])
    speedscope_schema.validate(doc)
    frames = doc["shared"]["frames"]
    period = decode_pprof(outs["--pprof"])["period"] / 1e9
    got = collections.defaultdict(lambda: [0, 0])
    for stacks in speedscope_counts(doc, period).values():
        for stack, count in stacks.items():
            for i in set(stack):
                f = frames[i]
                got[(f["name"], f.get("file"), f.get("line"))][1] += count
            f = frames[stack[-1]]
            got[(f["name"], f.get("file"), f.get("line"))][0] += count
    assert {k: tuple(v) for k, v in got.items() if k[0] != TRUNC} == want
    assert any(" worker-0 (tid " in p["name"] for p in doc["profiles"])

    # pprof, decoded here: the same per function, by name, file and first line
    prof = decode_pprof(outs["--pprof"])
    got = collections.defaultdict(lambda: [0, 0])
    for pid, tid, tname, frames_, values in resolved_samples(prof):
        assert pid == t.pid and values[1] == values[0] * prof["period"]
        for fr in set(f[:3] for f in frames_):
            got[fr][1] += values[0]
        got[frames_[0][:3]][0] += values[0]
    assert {k: tuple(v) for k, v in got.items() if k[0] != TRUNC} == want
    threads = {tname for _, _, tname, _, _ in resolved_samples(prof)}
    assert {"worker-0", "worker-1", "worker-2"} <= threads

    # pstats (-o): each function's tottime and cumtime are its self and cum
    # samples. Its keys name functions as cProfile does (co_name, where the
    # report shows the qualified name), plus the one root entry snakeviz
    # needs, holding every sample.
    with open(outs["-o"], "rb") as f:
        stats = marshal.load(f)
    got = {(filename, lineno, name): (round(tt / period), round(ct / period))
           for (filename, lineno, name), (cc, nc, tt, ct, callers) in stats.items()
           if name != TRUNC}
    root = got.pop(("~", 0, "<refbpf: all samples>"))
    assert root == (0, sum(self_ for self_, _ in want.values()))
    assert got == {(f, l, n.rsplit(".", 1)[-1]): v for (n, f, l), v in want.items() if n != TRUNC}

    # folded: its frames carry the line running, not the first line, so
    # functions are told apart by name and file
    by_name = collections.defaultdict(lambda: [0, 0])
    for (name, filename, lineno), (self_, cum) in want.items():
        by_name[(name, filename)][0] += self_
        by_name[(name, filename)][1] += cum
    got = collections.defaultdict(lambda: [0, 0])
    for frames, count in parse_folded(outs["--folded"]):
        for fr in set(f[:2] for f in frames):
            got[fr][1] += count
        got[frames[-1][:2]][0] += count
    assert {k: tuple(v) for k, v in got.items() if k[0] != TRUNC} == \
        {k: tuple(v) for k, v in by_name.items()}


def test_many_samples(tmp_path):
    out_json, out_pb = tmp_path / "s.json", tmp_path / "s.pb.gz"
    r = run_fixture(tmp_path, ThreadSynth(), "--stress", "400000", "--speedscope", out_json,
                    "--pprof", out_pb, timeout=120)
    assert r.stdout.decode().split() == ["stacks=100000", "threads=64", "samples=400000"]
    doc = load_speedscope(out_json)
    assert len(doc["profiles"]) == 64
    assert sum(round(w / 0.01) for p in doc["profiles"] for w in p["weights"]) == 400000
    prof = decode_pprof(out_pb)
    assert len(prof["samples"]) == 100000
    assert sum(smp["values"][0] for smp in prof["samples"]) == 400000
    # the root frame at line 1, every one of the 97 functions at line 2
    assert len(prof["locations"]) == 98


UNKNOWN_LINE_RAW = """refbpf-raw 1
meta rate_hz=100 period_s=0.01 duration_s=2.5 lost=0 err0=0 err1=0 err2=0 err3=0 err4=0 err5=0 err6=0 err7=0
func 0 1 /srv/app.py <module> <module>
func 1 10 /srv/app.py handler Handler.handler
stack 100 100 0 30 0:5,1:12
stack 100 100 0 7 0:5,1:-1
thread 100 100 main
target 100 0 0 37 3.12.1 python%20/srv/app.py !
"""


def test_an_unknown_line_is_never_shown_as_another(tmp_path, refbpf_bin):
    """A frame whose instruction the line table does not place (line -1:
    not the first line, which only a frame not yet started is on) is
    shown as unknown by every writer that shows lines, and counted in the
    header; before, it was shown on the function's first line."""
    raw = tmp_path / "u.raw"
    raw.write_text(UNKNOWN_LINE_RAW)
    folded, pprof = tmp_path / "u.folded", tmp_path / "u.pb.gz"
    r = raw_report(refbpf_bin, raw, "--folded", folded, "--pprof", pprof)
    assert r.returncode == 0, r.stderr
    assert "samples on an unknown line: 7" in r.stdout.splitlines()[1], r.stdout
    lines = folded.read_text().splitlines()
    assert "<module> (/srv/app.py:5);Handler.handler (/srv/app.py:?) 7" in lines, lines
    assert not any("(/srv/app.py:10)" in line for line in lines), lines
    doc = decode_pprof(pprof)
    handler = [fid for fid, f in doc["functions"].items() if f["name"] == "Handler.handler"]
    shown = sorted(line for loc in doc["locations"].values() for fid, line in loc["lines"]
                   if fid in handler)
    assert shown == [0, 12], shown    # pprof's 0: line not known
