"""The SVG flame graph (and icicle) in a real browser: Debian's chromium,
headless, driven by Playwright (playwright-core from npm, fetched by
scripts/fetch-browser-tools.sh). The page's own script must run without
errors, frames must be as wide as their samples, clicking zooms, Reset
restores, Search highlights and reports the share of samples matched, and
a function name made of markup stays text."""
import json
import os
import re
import shutil
import subprocess

import pytest

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
    assert "PID 7 (Python 3.12.1)" in seen["title"] and "100 samples" in seen["title"]
    full = widths(seen["initial"])
    # widths proportional to samples: all 100, handler 60, idle 30, render 20
    assert abs(full["Handler.handler"] / full["all"] - 0.6) < 0.01, full
    assert abs(full["idle"] / full["all"] - 0.3) < 0.01, full
    assert abs(full["render"] / full["all"] - 0.2) < 0.01, full
    handler = [f for f in seen["initial"] if f["name"] == "Handler.handler"][0]
    assert "(/srv/app.py:10) - 60 samples (60.00%)" in handler["title"], handler
    # search through the page's prompt: render (20) + idle (30)
    assert seen["dialogs"] == ["Search (regular expression)"], seen["dialogs"]
    assert seen["matched"] == "Matched: 50.0%" and seen["searchButton"] == "Clear search"
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


ARTIFACTS = os.environ.get("REFBPF_ARTIFACTS", os.path.join(HERE, "artifacts"))
COLUMN = {"self": 0, "selfPct": 0, "cum": 2, "cumPct": 2, "tottime": 0, "cumtime": 2, "name": 6}


def test_html_report_in_chromium(tmp_path, refbpf_bin, browser_tools):
    html = tmp_path / "report.html"
    render(refbpf_bin, tmp_path, "--html", html)
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
