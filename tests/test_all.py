"""Root tests for --all: every Python process on the host, the ones that
exist when recording starts and the ones started later, each with its own
version and layout and its own root; non-Python processes stay out."""
import re
import subprocess
import time

import pytest

from kernel_times import CpuGiven, assert_sampled_cpu, process_cpu_seconds, recorded_seconds
from profiling import Recording, Target, parse_folded, target_path
from pythons import find_interpreters

INTERPRETERS = [i for i in find_interpreters() if i[2] >= (3, 8)]

pytestmark = pytest.mark.root


def samples_under_process(stacks, pid, name):
    return sum(c for frames, c in stacks if frames[0][0].startswith("<process %d " % pid)
               and any(f[0] == name for f in frames))


def test_all_finds_present_and_future_python_processes(tmp_path, refbpf_bin):
    if len(INTERPRETERS) < 2:
        pytest.skip("skipped: needs two Python versions, found %d" % len(INTERPRETERS))
    (_, old_py, old_ver), (_, new_py, new_ver) = INTERPRETERS[0], INTERPRETERS[-1]
    folded = tmp_path / "all.folded"
    with Target(old_py, target_path("shares.py"), 12) as before:
        given = CpuGiven(before.pid)
        recording = Recording(refbpf_bin, ["--all", "-d", "5", "-F", "199", "--folded", folded],
                              tmp_path)
        rec = recording.proc
        try:
            recording.wait_attached()
            time.sleep(0.5)
            # Started after recording began: one Python, one not. The shell is
            # forked from this (Python) test process and is Python until its exec;
            # its sleep child never is.
            shell = subprocess.Popen(["/bin/sh", "-c", "/bin/sleep 3 & echo $!; wait"],
                                     stdout=subprocess.PIPE, text=True)
            never_python = int(shell.stdout.readline())
            with Target(new_py, target_path("shares.py"), 3) as after:
                _, out, err = recording.finish(timeout=60)
                # exited during the recording, not reaped yet
                cpu_after = process_cpu_seconds(after.pid)
            cpu_before = given.share() * recorded_seconds(out)
            shell.communicate()
        finally:
            if rec.poll() is None:
                rec.kill()
                rec.communicate()
    assert rec.returncode == 0, err
    stacks = parse_folded(folded)
    for t, ver, cpu in ((before, old_ver, cpu_before), (after, new_ver, cpu_after)):
        # share_three: half of each one's CPU time while recorded
        assert_sampled_cpu(samples_under_process(stacks, t.pid, "share_three"), cpu, 199,
                           part=0.5)
        line = re.search(r"^  PID %d  Python (\S+) .*shares\.py" % t.pid, out, re.M)
        assert line and line.group(1).startswith("%d.%d" % ver[:2]), out
    assert "PID %d " % never_python not in out, out
    # A sample taken in the fork before its exec is honest, but the shell must then
    # be reported as dropped at the exec, never as profiled.
    shell_line = re.search(r"^  PID %d  (.*)$" % shell.pid, out, re.M)
    if shell_line:
        assert shell_line.group(1).startswith(
            "not profiled: not a Python process since its exec"), out



def test_all_finds_a_python_started_while_bpf_loads(tmp_path, refbpf_bin):
    """A Python started after refbpf looked for processes but before BPF
    reported execs (BPF loads for seconds on a busy machine) was in
    neither: --all now looks once BPF is attached."""
    label, path, version = INTERPRETERS[-1]
    folded = tmp_path / "all.folded"
    rec = subprocess.Popen([refbpf_bin, "-vv", "--all", "-d", "4", "-F", "199", "--folded",
                            str(folded)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        for line in rec.stderr:     # -vv: libbpf's log begins as BPF loads
            if line.startswith("libbpf: loading object"):
                break
        with Target(path, target_path("shares.py"), 6) as t:
            given = CpuGiven(t.pid)
            out, err = rec.communicate(timeout=60)
            cpu = given.share() * recorded_seconds(out)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.communicate()
    assert "libbpf: loading object" in line, line
    assert rec.returncode == 0, err[-2000:]
    assert re.search(r"^  PID %d  Python " % t.pid, out, re.M), out[:3000]
    assert_sampled_cpu(samples_under_process(parse_folded(folded), t.pid, "share_three"), cpu,
                       199, part=0.5)
