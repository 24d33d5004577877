"""What refbpf says while it waits, and what it does not wait for: the
usage with no arguments, a young process that is not Python (yet), and a
young parent that is not Python under -C."""
import re
import subprocess

import pytest

from profiling import Recording, go, go_file, parse_folded, function_samples, target_path


def test_no_arguments_prints_the_usage(refbpf_bin):
    """As perf, py-spy and austin do: the usage on stdout, exit 0."""
    r = subprocess.run([refbpf_bin], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Usage: refbpf ") and "record" in r.stdout, r.stdout[:500]
    assert r.stderr == ""


@pytest.mark.root
def test_young_process_wait_is_announced_at_once(refbpf_bin):
    """A process started moments ago that has no Python yet may still load
    one: refbpf says so in one line as it starts waiting (while it still
    waits), and ends with "not a Python process"."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        p = subprocess.Popen([refbpf_bin, "-p", str(sleeper.pid), "-d", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = p.stderr.readline()
        still_waiting = p.poll() is None
        rest = p.stderr.read()
        p.wait(timeout=60)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert re.match(r"refbpf: PID %d \(sleep\): no Python loaded yet .*waiting up to [\d.]+ s"
                    % sleeper.pid, first), first
    assert still_waiting, "the wait was announced only after it ended"
    assert p.returncode != 0
    assert rest.strip() == ("refbpf: PID %d: not a Python process (no mapped ELF file defines "
                            "_PyRuntime)" % sleeper.pid), rest


@pytest.mark.root
def test_young_process_exiting_while_waited_for_is_not_python(refbpf_bin):
    """It exits during the wait without ever loading Python: that is "not
    a Python process", not "no such process"."""
    sleeper = subprocess.Popen(["sleep", "0.5"])
    r = subprocess.run([refbpf_bin, "-p", str(sleeper.pid), "-d", "1"], capture_output=True,
                       text=True, timeout=60)
    sleeper.wait()
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0
    assert "waiting up to" in lines[0], r.stderr
    assert lines[-1] == ("refbpf: PID %d: not a Python process (it exited without loading "
                         "Python)" % sleeper.pid), r.stderr


@pytest.mark.root
def test_dump_of_a_young_process_says_what_it_waits_for(refbpf_bin):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        r = subprocess.run([refbpf_bin, "dump", "-p", str(sleeper.pid)], capture_output=True,
                           text=True, timeout=60)
    finally:
        sleeper.kill()
        sleeper.wait()
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 2, r.stderr
    assert "waiting up to" in lines[0] and "not a Python process" in lines[1], r.stderr


# first_burn.py's later() CPU seconds: the density of samples to compare with
LATER_SECONDS = 1.0


@pytest.mark.root
def test_young_non_python_parent_delays_nothing_under_C(python, tmp_path, refbpf_bin):
    """-C on a shell started moments ago: refbpf attaches at once and
    follows its children while it still looks for a Python in the shell
    itself (which it gives up on only after attaching), and the Python
    child the shell starts is profiled from its first function."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    gofile = go_file(tmp_path)
    # the shell waits for the test, runs Python, then lives on a while so
    # refbpf's look for a Python in it ends while recording
    shell = subprocess.Popen(["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.01; done; '
                              '"$2" "$3" 0 "$4"; sleep 4', "sh", gofile, path,
                              target_path("first_burn.py"), str(LATER_SECONDS)])
    try:
        rec = Recording(refbpf_bin, ["-C", "-p", shell.pid, "-F", 1000, "-d", 30,
                                     "--folded", folded], tmp_path)
        rec.wait_attached()
        go(gofile)
        rc, stdout, stderr = rec.finish()
    finally:
        shell.kill()
        shell.wait()
    assert rc == 0, stderr[-2000:]
    attached = stderr.index("refbpf: attached ")
    m = re.search(r"^refbpf: PID %d: not a Python process .* after [\d.]+ s; its children are "
                  r"followed$" % shell.pid, stderr, re.M)
    assert m, stderr[-3000:]
    assert attached < m.start(), "refbpf attached only after giving up on the shell:\n" + stderr
    stacks = parse_folded(folded)
    # 0.3 s of CPU time in first_burn, then LATER_SECONDS in later(): the
    # first function sampled about as densely as the later one (a CPU
    # shared with others is not sampled at 1 kHz), little of it lost to a
    # wait: under CPU hogs at a load average of 12-14, 1.0-1.3 of later's
    # density in 12 runs of 13 and 0.61 in one (refbpf waits for a CPU
    # before it sees the exec)
    burn = function_samples(stacks, "first_burn")
    later = function_samples(stacks, "later")
    assert later > 0, stdout[:3000]
    assert burn / (0.3 * 1000) >= 0.5 * min(1.0, later / (LATER_SECONDS * 1000)), (
        burn, later, stdout[:3000])
