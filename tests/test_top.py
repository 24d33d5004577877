"""Root tests for `refbpf top`: in a real terminal (tmux) the screen is
redrawn every second and keys re-sort it; without a terminal each refresh
is plain text."""
import re
import shutil
import subprocess
import time

import pytest

from profiling import Target, target_path
from pythons import find_interpreters

pytestmark = pytest.mark.root

ROW = re.compile(r"^\s*([\d.]+)%\s+([\d.]+)%\s+([\d.]+)\s+([\d.]+)\s+(\S+) \(")


def rows(screen):
    return [(m.group(5), float(m.group(1)), float(m.group(2)))
            for m in (ROW.match(l) for l in screen.splitlines()) if m]


def test_top_plain_text_when_not_a_terminal(refbpf_bin):
    label, path, version = find_interpreters()[-1]
    with Target(path, target_path("shares.py"), 8) as t:
        r = subprocess.run([refbpf_bin, "top", "-p", str(t.pid), "-d", "3.5"],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    frames = r.stdout.split("refbpf top: PID %d" % t.pid)[1:]
    assert len(frames) >= 3, r.stdout
    full = rows(frames[1])
    assert full[0][0] == "spin" and full[0][1] > 90, frames[1]
    three = [x for x in full if x[0] == "share_three"]
    assert three and abs(three[0][2] - 50) < 15, frames[1]


def test_top_in_a_terminal_sorts_by_key_and_quits(refbpf_bin):
    if not shutil.which("tmux"):
        pytest.skip("skipped: tmux not installed (scripts/install-deps.sh installs it)")
    label, path, version = find_interpreters()[-1]
    session = "refbpf-top-test"
    with Target(path, target_path("shares.py"), 30) as t:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                        "%s top -p %d" % (refbpf_bin, t.pid)], check=True)
        try:
            def screen():
                return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                      capture_output=True, text=True).stdout

            def wait_for(pred, what):
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    s = screen()
                    if pred(s):
                        return s
                    time.sleep(0.2)
                raise AssertionError("%s; screen:\n%s" % (what, screen()))

            s = wait_for(lambda s: "sorted by own %" in s and rows(s), "no table")
            assert s.count("refbpf top:") == 1, s          # redrawn, not scrolled
            assert rows(s)[0][0] == "spin", s
            subprocess.run(["tmux", "send-keys", "-t", session, "n"], check=True)
            s = wait_for(lambda s: "sorted by name" in s, "key n did not sort by name")
            names = [r[0] for r in rows(s)]
            assert names == sorted(names) and "share_one" in names, s
            subprocess.run(["tmux", "send-keys", "-t", session, "t"], check=True)
            s = wait_for(lambda s: "sorted by total %" in s, "key t did not sort by total")
            totals = [r[2] for r in rows(s)]
            assert totals == sorted(totals, reverse=True), s
            subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and subprocess.run(
                    ["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
                time.sleep(0.2)
            assert subprocess.run(["tmux", "has-session", "-t", session],
                                  capture_output=True).returncode != 0, "q did not quit"
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
