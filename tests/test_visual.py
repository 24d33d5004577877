"""The SVG flame graph (and icicle) in a real browser: Debian's chromium,
headless, driven by Playwright (playwright-core from npm, fetched by
scripts/fetch-browser-tools.sh). The page's own script must run without
errors, frames must be as wide as their samples, clicking zooms, Reset
restores, Search highlights and reports the share of samples matched, and
a function name made of markup stays text."""
import colorsys
import json
import os
import pstats
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import tool_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = "<b>bold</b><script>alert(1)</script>&amp;\"'"
# A tab and a newline would be escaped; keep the hostile name printable.


def pct(s):
    return "".join(c if (c.isascii() and c.isalnum()) or c in "._/:<>()~+=,@-[]" else
                   "%%%02X" % b for c, b in ((chr(b), b) for b in s.encode()))


# <module> -> main -> {handler 60 (-> render 20 + hot 40 self...), idle 40}
RAW = """refbpf-raw 1
meta rate_hz=100 period_s=0.01 duration_s=1
func 0 1 /srv/app.py <module> <module>
func 1 5 /srv/app.py main main
func 2 10 /srv/app.py handler Handler.handler
func 3 20 /srv/app.py render render
func 4 30 /srv/app.py idle idle
func 5 40 /srv/evil.py evil {hostile}
stack 7 7 0 40 0:2,1:6,2:11
stack 7 7 0 20 0:2,1:6,2:11,3:21
stack 7 7 0 30 0:2,1:6,4:31
stack 7 7 0 10 0:2,1:6,5:41
target 7 0 0 100 3.12.1 python%20app.py !
""".format(hostile=pct(HOSTILE))


@pytest.fixture(scope="module")
def browser_tools():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("skipped: chromium not installed (scripts/install-deps.sh installs it)")
    if not shutil.which("node"):
        pytest.skip("skipped: node not installed (scripts/install-deps.sh installs it)")
    r = subprocess.run([os.path.join(ROOT, "scripts", "fetch-browser-tools.sh")],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip("skipped: playwright-core unavailable: %s" % r.stderr.strip())
    return r.stdout.strip()


def render(refbpf, tmp_path, *args):
    raw = tmp_path / "run.raw"
    raw.write_text(RAW)
    r = subprocess.run([refbpf, "report", str(raw)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def drive_svg(tools, svg, regex, frame):
    r = subprocess.run(["node", os.path.join(HERE, "browser", "check_svg.js"), tools, CHROMIUM,
                        str(svg), regex, frame], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def widths(frames):
    return {f["name"]: f["width"] for f in frames if f["shown"]}


@pytest.mark.parametrize("icicle", [False, True], ids=["flame", "icicle"])
def test_svg_flame_graph_in_chromium(tmp_path, refbpf_bin, browser_tools, icicle):
    svg = tmp_path / "flame.svg"
    render(refbpf_bin, tmp_path, "--flamegraph", svg, *(["--icicle"] if icicle else []))
    seen = drive_svg(browser_tools, svg, "^(render|idle)$", "Handler.handler")
    assert seen["errors"] == [] and seen["requests"] == [], seen
    assert seen["title"] == "refbpf: PID 7 python app.py (Python 3.12.1) - 1.0 s at 100 Hz, " \
        "100 samples", seen["title"]
    assert seen["documentTitle"] == seen["title"]
    full = widths(seen["initial"])
    # widths proportional to samples: all 100, handler 60, idle 30, render 20
    assert abs(full["Handler.handler"] / full["all"] - 0.6) < 0.01, full
    assert abs(full["idle"] / full["all"] - 0.3) < 0.01, full
    assert abs(full["render"] / full["all"] - 0.2) < 0.01, full
    handler = [f for f in seen["initial"] if f["name"] == "Handler.handler"][0]
    assert "(/srv/app.py:10) - 60 samples (60.00%)" in handler["title"], handler
    # search through the page's prompt: render (20) + idle (30)
    assert seen["dialogs"] == ["Search (regular expression or text)"], seen["dialogs"]
    assert seen["matched"] == "Matched: 50.0%" and seen["searchButton"] == "Clear search"
    assert seen["matchedText"] == pytest.approx(10.0)   # the hostile frame, as text
    assert sorted(seen["highlighted"]) == ["idle", "render"]
    # zoom into the handler: it and its ancestors span the width, idle is gone
    zoomed = widths(seen["zoomed"])
    assert abs(zoomed["Handler.handler"] - full["all"]) < 1, zoomed
    assert abs(zoomed["render"] / zoomed["Handler.handler"] - 20 / 60) < 0.01, zoomed
    assert "idle" not in zoomed and seen["resetVisible"]
    assert widths(seen["reset"]) == pytest.approx(full, abs=0.01)
    # markup in a name is text: no element was injected, no dialog opened
    assert HOSTILE in [f["name"] for f in seen["initial"]]
    assert seen["scripts"] == 1 and seen["foreign"] == 0
    # the root is at the bottom of a flame graph and at the top of an icicle
    ys = {f["name"]: f for f in seen["initial"]}
    text = svg.read_text()
    root_y = float(re.search(r'data-n="all"><title>[^<]*</title><rect y="(\d+)"', text).group(1))
    leaf_y = float(re.search(r'data-n="render"><title>[^<]*</title><rect y="(\d+)"', text).group(1))
    assert (root_y < leaf_y) == icicle, (root_y, leaf_y)
    assert ys["all"]["shown"]


def test_svg_is_self_contained_and_written_atomically(tmp_path, refbpf_bin):
    svg = tmp_path / "flame.svg"
    render(refbpf_bin, tmp_path, "--flamegraph", svg, "-o", tmp_path / "p.prof")
    text = svg.read_text()
    assert text.startswith("<?xml") and "http://www.w3.org/2000/svg" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert sorted(os.listdir(tmp_path)) == ["flame.svg", "p.prof", "run.raw"]


SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_frames(svg):
    """name -> (kind, fill) of every frame of an SVG flame graph, parsed as
    XML: the file must be well-formed whatever the names hold."""
    frames = {}
    for g in ET.parse(str(svg)).getroot().iter(SVG_NS + "g"):
        if g.get("class", "").split()[:1] == ["f"]:
            frames[g.get("data-n")] = (g.get("class").split()[1], g.find(SVG_NS + "rect").get("fill"))
    return frames


def hsl_rgb(text):
    h, s, l = (float(v) for v in re.match(r"hsl\((\d+),(\d+)%,(\d+)%\)$", text).groups())
    return [255 * c for c in colorsys.hls_to_rgb(h / 360, l / 100, s / 100)]


def rgb(text):
    return [float(v) for v in re.match(r"rgb\((\d+), (\d+), (\d+)\)$", text).groups()]


def test_frame_kinds_and_colours(tmp_path, refbpf_bin):
    """Synthetic roots grey, Python frames warm and one colour per file;
    blue and green are left for native and kernel frames."""
    svg, html = tmp_path / "flame.svg", tmp_path / "report.html"
    render(refbpf_bin, tmp_path, "--threads", "--flamegraph", svg, "--html", html)
    frames = svg_frames(svg)
    assert frames["all"] == ("synth", "hsl(220,10%,78%)")
    assert frames["<thread 7 ?>"] == ("synth", "hsl(220,10%,78%)")
    python = {n: f for n, (k, f) in frames.items() if n not in ("all", "<thread 7 ?>")}
    assert sorted(python) == sorted(["<module>", "main", "Handler.handler", "render", "idle",
                                     HOSTILE])
    assert all(frames[n][0] == "py" for n in python)
    hues = {int(re.match(r"hsl\((\d+),", f).group(1)) for f in python.values()}
    assert all(0 <= h < 56 for h in hues), hues
    assert len({python[n] for n in ("<module>", "main", "Handler.handler", "render",
                                    "idle")}) == 1, python
    data = json.loads(html.read_text().split('id="refbpf-data">')[1].split("</script>")[0])
    assert [n[5] for n in data["tree"][:2]] == ["synth", "synth"]
    assert {n[5] for n in data["tree"][2:]} == {"py"}


def test_names_stay_well_formed(tmp_path):
    """Control characters, invalid UTF-8, U+2028, CDATA and comment ends in
    names: the SVG stays well-formed XML, the HTML's JSON parses back to
    the names (invalid bytes as U+FFFD) and cannot end its element."""
    names = ["a\\x01b", "bad\\xff\\xfe", "line\u2028sep\u2029", "]]><!--x-->",
             "</script><script>alert(1)</script>", "tab\\there"]
    text = "".join("FUNC\t%d\t/srv/n.py\t%d\tf%d\t%s\n" % (i, i + 1, i, n)
                   for i, n in enumerate(names))
    text += "TARGET\t9\tprofiled\t3.12.1\tpython3 n.py\n"
    text += "".join("STACK 9 9 %d 0 %d\n" % (i + 1, i) for i in range(len(names)))
    inp = tmp_path / "in.txt"
    inp.write_text(text)
    svg, html = tmp_path / "f.svg", tmp_path / "r.html"
    r = subprocess.run([tool_path("profile_fixture"), "--flamegraph", str(svg), "--icicle",
                        "--html", str(html), str(inp)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    frames = svg_frames(svg)
    assert set(frames) == {"all", "a\\x01b", "bad\\xff\\xfe", "line\u2028sep\u2029",
                           "]]><!--x-->", "</script><script>alert(1)</script>", "tab\\there"}
    page = html.read_bytes().decode()      # valid UTF-8
    raw = page.split('<script type="application/json" id="refbpf-data">')[1].split("</script>")[0]
    assert "<" not in raw and ">" not in raw and "\u2028" not in raw and "\u2029" not in raw
    got = [f[0] for f in json.loads(raw)["funcs"][1:]]
    assert sorted(got) == sorted(["a\x01b", "bad\ufffd\ufffd", "line\u2028sep\u2029",
                                  "]]><!--x-->", "</script><script>alert(1)</script>",
                                  "tab\there"])


def test_several_outputs_in_one_run_replace_atomically(tmp_path, refbpf_bin):
    """Every output at once: each file replaced whole (a new inode, never
    written in place), nothing left beside them; one output that cannot be
    written costs only itself."""
    refbpf_bin = os.path.abspath(refbpf_bin)    # run from tmp_path
    names = ["p.prof", "f.folded", "s.speedscope.json", "p.pb.gz", "flame.svg", "r.html"]
    old = {}
    for n in names:
        (tmp_path / n).write_text("old")
        old[n] = os.stat(tmp_path / n).st_ino
    (tmp_path / "run.raw").write_text(RAW)
    args = ["-o", "p.prof", "--folded", "f.folded", "--speedscope", "s.speedscope.json",
            "--pprof", "p.pb.gz", "--flamegraph", "flame.svg", "--icicle", "--html", "r.html",
            "--folded", "missing/f.folded"]
    # the last --folded wins: it alone fails
    r = subprocess.run([refbpf_bin, "report", "run.raw"] + args, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr == "refbpf: cannot write missing/f.folded: No such file or directory\n"
    assert sorted(os.listdir(tmp_path)) == sorted(names + ["run.raw"])
    assert (tmp_path / "f.folded").read_text() == "old"
    for n in names:
        if n == "f.folded":
            continue
        assert os.stat(tmp_path / n).st_ino != old[n], n
        assert (tmp_path / n).read_bytes() != b"old", n
    assert svg_frames(tmp_path / "flame.svg")["Handler.handler"][0] == "py"
    assert 'id="refbpf-data"' in (tmp_path / "r.html").read_text()
    pstats.Stats(str(tmp_path / "p.prof"))
    # and again, everything writable: every file, the folded one too
    args = args[:-2]
    r = subprocess.run([refbpf_bin, "report", "run.raw"] + args, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f.folded").read_text().endswith(";idle (/srv/app.py:31) 30\n")
    assert sorted(os.listdir(tmp_path)) == sorted(names + ["run.raw"])


ARTIFACTS = os.environ.get("REFBPF_ARTIFACTS", os.path.join(HERE, "artifacts"))
COLUMN = {"self": 0, "selfPct": 0, "cum": 2, "cumPct": 2, "tottime": 0, "cumtime": 2, "name": 6}


def test_html_report_in_chromium(tmp_path, refbpf_bin, browser_tools):
    html, svg = tmp_path / "report.html", tmp_path / "flame.svg"
    render(refbpf_bin, tmp_path, "--html", html, "--flamegraph", svg)
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "html-report.png")
    r = subprocess.run(["node", os.path.join(HERE, "browser", "check_html.js"), browser_tools,
                        CHROMIUM, str(html), shot], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = json.loads(r.stdout)
    print("screenshot kept at", shot)
    assert seen["errors"] == [] and seen["requests"] == [] and seen["dialogs"] == [], seen
    rows = {row[6].rsplit(" (", 1)[0]: row for row in seen["rows"]}
    assert len(rows) == 6, rows
    assert rows["Handler.handler"][:6] == ["40", "40.0%", "60", "60.0%", "0.400", "0.600"]
    assert rows[HOSTILE][0] == "10"
    # every column sorts, descending first (names ascending), then reversed
    for key, (first, second) in seen["sorted"].items():
        col = COLUMN[key]
        values = [row[col] if key == "name" else float(row[col]) for row in first]
        assert values == sorted(values, reverse=key != "name"), (key, values)
        again = [row[col] if key == "name" else float(row[col]) for row in second]
        assert again == sorted(again, reverse=key == "name"), (key, again)
    assert seen["filtered"] == ["render"]
    # the handler: called only by main; render is a third of its time
    assert seen["handler"]["name"] == "Handler.handler (/srv/app.py:10)"
    assert seen["handler"]["callers"] == [["100.0%", "60", "main (/srv/app.py:5)"]]
    assert seen["handler"]["callees"] == [["33.3%", "20", "render (/srv/app.py:20)"]]
    assert seen["followed"]["name"] == "render (/srv/app.py:20)"
    assert seen["followed"]["callers"] == [["100.0%", "20", "Handler.handler (/srv/app.py:10)"]]
    assert seen["back"]["name"] == "Handler.handler (/srv/app.py:10)", "back did not return"
    # flame graph: proportional widths, zoom, search
    width = seen["flameWidth"]
    assert seen["before"]["all"] == [pytest.approx(width, abs=1)]
    assert seen["before"]["handler"] == [pytest.approx(0.6 * width, abs=1)]
    assert seen["after"]["handler"] == [pytest.approx(width, abs=1)] and seen["after"]["idle"] == []
    assert seen["after"]["render"] == [pytest.approx(width / 3, abs=1)]
    assert seen["matched"] == "Matched: 50.0%" and seen["highlighted"] == 2
    assert seen["matchedText"] == "Matched: 10.0%"      # the hostile frame, as text
    # the page draws each frame in the SVG's colour, and says its kind
    fills = svg_frames(svg)
    for frame in seen["frames"]:
        name = frame["title"].rsplit(" - ", 1)[0].rsplit(" (", 1)[0]
        kind, fill = fills[name]
        assert frame["cls"].split()[:2] == ["fr", kind], frame
        assert rgb(frame["colour"]) == pytest.approx(hsl_rgb(fill), abs=1.5), (frame, fill)
    # markup in a name stayed text: only our two scripts, nothing injected
    assert seen["scripts"] == 2 and seen["foreign"] == 0
    assert os.path.getsize(shot) > 10000


def test_html_is_self_contained(tmp_path, refbpf_bin):
    html = tmp_path / "report.html"
    render(refbpf_bin, tmp_path, "--html", html, "--flamegraph", tmp_path / "f.svg")
    text = html.read_text()
    assert "default-src 'none'" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    # the hostile name cannot close the data element
    data = text.split('<script type="application/json" id="refbpf-data">')[1].split("</script>")[0]
    assert "<" not in data and "\\u003cscript\\u003e" in data
    json.loads(data)


def test_empty_profile_pages_load(tmp_path, browser_tools):
    """No sample at all: both pages still load, and their scripts run."""
    inp = tmp_path / "in.txt"
    inp.write_text("TARGET\t9\tprofiled\t3.12.1\tpython3 idle.py\n")
    svg, html = tmp_path / "f.svg", tmp_path / "r.html"
    r = subprocess.run([tool_path("profile_fixture"), "--flamegraph", str(svg), "--html",
                        str(html), str(inp)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for page, scripts in ((svg, 1), (html, 2)):
        r = subprocess.run(["node", os.path.join(HERE, "browser", "check_inert.js"), browser_tools,
                            CHROMIUM, str(page), "PID 9"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert json.loads(r.stdout) == {"errors": [], "dialogs": [], "requests": [], "images": 0,
                                        "scripts": scripts, "textShown": True}, page


@pytest.mark.root
def test_code_object_named_with_markup_stays_text(tmp_path, refbpf_bin, browser_tools):
    """A real target renames its code object (code.replace(co_name=...)) to
    markup with scripts in it: recorded, it is text in the SVG and HTML."""
    from profiling import Target, target_path
    from pythons import find_interpreters
    label, path, version = find_interpreters()[-1]
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    svg, html = tmp_path / "f.svg", tmp_path / "r.html"
    with Target(path, target_path("hostile_name.py"), 8) as t:
        r = subprocess.run([refbpf_bin, "-p", str(t.pid), "-d", "1.5", "--flamegraph", str(svg),
                            "--html", str(html)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert hostile not in svg.read_text() and hostile not in html.read_text()
    for page, scripts in ((svg, 1), (html, 2)):
        r = subprocess.run(["node", os.path.join(HERE, "browser", "check_inert.js"), browser_tools,
                            CHROMIUM, str(page), hostile], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        seen = json.loads(r.stdout)
        assert seen == {"errors": [], "dialogs": [], "requests": [], "images": 0,
                        "scripts": scripts, "textShown": True}, (page, seen)
