"""--raw and `refbpf report`: a recording saved whole and rendered later,
without the target and without root, exactly as the live run rendered it;
and the reader refusing malformed files with one line naming the line."""
import marshal
import os
import pstats
import subprocess
import tempfile

import pytest

from profiling import Target, target_path
from pythons import find_interpreters


def report(refbpf, raw, *args, user=None):
    cmd = [refbpf, "report", str(raw)] + [str(a) for a in args]
    if user is not None:
        cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def pct(s):
    return "".join(c if (c.isascii() and c.isalnum()) or c in "._/:<>()~+=,@-[]" else "%%%02X" % b
                   for c, b in ((chr(b), b) for b in s.encode("utf-8", "surrogateescape")))


HOSTILE = "evil\x1b[2J</script><script>alert(1)</script>;\n\u202e"

RAW = """refbpf-raw 1
meta rate_hz=100 period_s=0.01 duration_s=2.5 lost=3 err0=0 err1=2 err2=0 err3=0 err4=0 err5=0 err6=0 err7=0
func 0 1 /srv/app.py <module> <module>
func 1 10 /srv/app.py handler Handler.handler
func 2 20 /srv/app.py %s %s
stack 100 100 0 30 0:5,1:12
stack 100 100 0 70 0:5,1:14,2:21
stack 100 101 1 5 2:22
thread 100 100 main
thread 100 101 %s
target 100 7 0 105 3.12.1 python%%20/srv/app.py !
target 200 0 2 0 ! /bin/sh not%%20a%%20Python%%20process
""" % (pct(HOSTILE), pct(HOSTILE), pct("w\x07rker"))


def test_report_renders_a_raw_file_without_root(tmp_path, refbpf_bin):
    raw = tmp_path / "run.raw"
    raw.write_text(RAW)
    prof = tmp_path / "out.prof"
    r = report(refbpf_bin, raw, "-o", prof, "--folded", tmp_path / "out.folded")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "2.50 s at 100 Hz, cpu mode; 105 samples, 2 threads" in out, out
    assert "Samples lost: 3" in out, out
    assert "PID 100 (PID 7 in its namespace)  Python 3.12.1  python /srv/app.py  105 samples" in out
    assert "PID 200  not profiled: not a Python process  /bin/sh" in out, out
    assert "\x1b" not in out and "\u202e" not in out
    stats = pstats.Stats(str(prof)).stats
    handler = ("/srv/app.py", 10, "handler")
    assert stats[handler][3] == pytest.approx(1.0)          # cumulative: 100 samples
    assert stats[("/srv/app.py", 20, HOSTILE)][2] == pytest.approx(0.75)  # self: 75
    folded = (tmp_path / "out.folded").read_text()
    assert folded.count("\n") == 3, folded          # the newline in the name is escaped
    assert "[truncated];" in folded and "</script>" in folded


def test_report_as_nobody(refbpf_bin):
    if os.geteuid() != 0:
        pytest.skip("skipped: needs root to switch to an unprivileged user")
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        os.chmod(d, 0o777)
        raw = os.path.join(d, "run.raw")
        with open(raw, "w") as f:
            f.write(RAW)
        os.chmod(raw, 0o644)
        folded = os.path.join(d, "n.folded")
        r = report(refbpf_bin, raw, "--folded", folded, user=65534)
        assert r.returncode == 0, r.stderr
        assert os.stat(folded).st_uid == 65534
        assert "105 samples" in r.stdout


@pytest.mark.parametrize("text,where", [
    ("refbpf-raw 2\n", "not a refbpf raw profile"),
    ("", "not a refbpf raw profile"),
    ("refbpf-raw 1\nfunc 1 1 a b c\n", ":2: function ids must count up from 0"),
    ("refbpf-raw 1\nstack 1 1 0 5 0:1\n", ":2: frame names an unknown function"),
    ("refbpf-raw 1\nfunc 0 1 a b c\nstack 1 1 0 5 0:x\n", ":3: frame names an unknown function"),
    ("refbpf-raw 1\nfunc 0 1 a b c\nstack 1 1 0 0 0:1\n", ":3: malformed stack"),
    ("refbpf-raw 1\nfunc 0 1 a%ZZ b c\n", ":2: malformed function"),
    ("refbpf-raw 1\nfunc 0 1 a%00 b c\n", ":2: malformed function"),
    ("refbpf-raw 1\nfunc 0 1 a b c d\n", ":2: malformed function"),
    ("refbpf-raw 1\nfunc 0 99999999999 a b c\n", ":2: malformed function"),
    ("refbpf-raw 1\nthread 1 2 x\n", ":2: thread without samples"),
    ("refbpf-raw 1\ntarget 1 0 9 0 ! ! !\n", ":2: malformed target"),
    ("refbpf-raw 1\nmeta period_s=nan\n", ":2: bad period_s"),
    ("refbpf-raw 1\nmeta rate_hz=-1\n", ":2: bad rate_hz"),
    ("refbpf-raw 1\n\nfunc 0 1 a b c\n", ":2: empty line"),
    ("refbpf-raw 1\x00\n", "binary data"),
])
def test_malformed_raw_is_refused_naming_the_line(tmp_path, refbpf_bin, text, where):
    raw = tmp_path / "bad.raw"
    raw.write_bytes(text.encode())
    r = report(refbpf_bin, raw)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and where in lines[0], r.stderr


def test_report_refuses_recording_options(tmp_path, refbpf_bin):
    raw = tmp_path / "run.raw"
    raw.write_text(RAW)
    for opt in (["-p", "1"], ["-F", "99"], ["-C"], ["--all"], ["-d", "3"], ["--raw", "x"]):
        r = report(refbpf_bin, raw, *opt)
        assert r.returncode == 2, opt
        assert "is for recording" in r.stderr, r.stderr


@pytest.mark.root
def test_recording_and_report_render_the_same(tmp_path, refbpf_bin):
    label, path, version = find_interpreters()[-1]
    live, later = tmp_path / "live", tmp_path / "later"
    live.mkdir()
    later.mkdir()
    with Target(path, target_path("threads.py"), 6, 3) as t:
        r = subprocess.run([refbpf_bin, "-p", str(t.pid), "-d", "2", "-F", "199",
                            "--raw", tmp_path / "run.raw", "-o", live / "p.prof",
                            "--folded", live / "f.folded"], capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 0, r.stderr
    again = report(refbpf_bin, tmp_path / "run.raw", "-o", later / "p.prof", "--folded",
                   later / "f.folded")
    assert again.returncode == 0, again.stderr
    assert again.stdout == r.stdout
    assert (later / "f.folded").read_bytes() == (live / "f.folded").read_bytes()
    with open(live / "p.prof", "rb") as a, open(later / "p.prof", "rb") as b:
        assert marshal.load(a) == marshal.load(b)
    threads = report(refbpf_bin, tmp_path / "run.raw", "--threads")
    assert threads.stdout.count("(<thread ") == 3, threads.stdout
