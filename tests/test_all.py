"""Root tests for --all: every Python process on the host, the ones that
exist when recording starts and the ones started later, each with its own
version and layout and its own root; non-Python processes stay out."""
import re
import signal
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


def record_all_around(refbpf_bin, tmp_path, folded, run):
    """refbpf --all from before run() until after it returns: (what run
    returned, the report, refbpf's -v stderr)."""
    recording = Recording(refbpf_bin, ["--all", "-F", "199", "--folded", folded], tmp_path)
    rec = recording.proc
    try:
        recording.wait_attached()
        result = run()
        rec.send_signal(signal.SIGINT)
        _, out, err = recording.finish(timeout=60)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.communicate()
    assert rec.returncode == 0, err[-2000:]
    return result, out, err


def test_all_host_execs_wake_refbpf_at_most_every_10_ms(tmp_path, refbpf_bin):
    """--all hears of every exec on the host, but a burst of programs that
    are not Python wakes refbpf at most once per 10 ms (BPF sends the
    others without a wake-up, and refbpf polls every 10 ms after reading
    one): every exec is still read, and a Python exec'd the moment the
    burst ends, between two wake-ups, is found and sampled."""
    label, path, version = INTERPRETERS[-1]
    folded = tmp_path / "all.folded"
    execs = 1000

    def burst():
        p = subprocess.Popen(
            ["bash", "-c", 'for ((i = 0; i < %d; i++)); do /bin/true; done; exec "$0" "$@"' % execs,
             path, target_path("shares.py"), "2"], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "READY"
        # bash's CPU before the exec is the process's too
        cpu_before = process_cpu_seconds(p.pid)
        p.stdout.read()             # the target's end: exited, not reaped yet
        cpu = process_cpu_seconds(p.pid) - cpu_before
        p.wait()
        return p.pid, cpu

    (pid, cpu), out, err = record_all_around(refbpf_bin, tmp_path, folded, burst)
    assert_sampled_cpu(samples_under_process(parse_folded(folded), pid, "share_three"),
                       cpu, 199, part=0.5, what="PID %d (%s)" % (pid, [
                           line for line in err.splitlines() if "PID %d" % pid in line]))
    m = re.search(r"^refbpf: --all: (\d+) execs read, (\d+) of them woke refbpf$", err, re.M)
    assert m, err[-2000:]
    read, woke = int(m.group(1)), int(m.group(2))
    assert read >= execs + 1, (read, execs)
    # once per 10 ms at most (BPF's clock, on two CPUs racing now and then),
    # over the whole recording: fewer than the burst's execs however slowly
    # the machine ran them, unless it took over 8 s
    seconds = recorded_seconds(out)
    assert woke <= seconds * 100 * 1.25 + 10, (woke, read, seconds)


# A library whose constructor takes 0.4 s: preloaded into a Python, it holds
# the interpreter unstarted that long after its exec.
SLOW_START = "#include <unistd.h>\n__attribute__((constructor)) static void slow(void) { usleep(400000); }\n"


def test_all_a_python_exec_d_late_in_a_shells_discovery_gets_its_own_time(tmp_path, refbpf_bin):
    """A process not Python yet is looked at for 3 s after its exec; one
    that execs Python just before that time is up (a shell that sleeps,
    then execs) starts a new image, with 3 s of its own to start its
    interpreter: before, the shell's deadline still held, and a Python not
    started by then (here held 0.4 s by a preloaded constructor) was left
    out. The shell is a subshell of bash, so that only its exec tells --all
    of it (a fork of this Python test is announced by BPF and followed
    another way)."""
    label, path, version = INTERPRETERS[-1]
    slow = tmp_path / "slow_start.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(slow), "-x", "c", "-"], input=SLOW_START,
                   text=True, check=True)
    folded = tmp_path / "all.folded"

    def late_python():
        outer = subprocess.Popen(
            ["bash", "-c", '( exec sh -c "sleep 2.8; LD_PRELOAD=$1 exec \\"\\$0\\" \\"\\$2\\" 2" '
             '"$0" "$1" "$2" ) & echo $!; wait', path, str(slow), target_path("shares.py")],
            stdout=subprocess.PIPE, text=True)
        late = int(outer.stdout.readline())
        assert outer.stdout.readline().strip() == "READY"
        outer.stdout.read()         # the target exited
        outer.wait()
        return late

    late, out, err = record_all_around(refbpf_bin, tmp_path, folded, late_python)
    assert re.search(r"^  PID %d  Python " % late, out, re.M), out[:2000]
    assert samples_under_process(parse_folded(folded), late, "share_three") > 0, out[:2000]
