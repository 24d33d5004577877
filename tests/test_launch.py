"""Root tests for `refbpf record PROGRAM`: the program is profiled from its
first line, its exit status is refbpf's, -C follows the processes it
starts, and under sudo it runs as the user who ran sudo; on every
interpreter."""
import os
import subprocess
import tempfile

import pytest

from profiling import function_samples, parse_folded, target_path

pytestmark = pytest.mark.root

RATE = 200
# first_burn.py spends 0.3 s of CPU time in first_burn(): sampled at
# 1 kHz, 300 samples (on a busy machine a count of samples at random
# moments of that CPU time: enough of them keeps the spread to a few %)
BURN_RATE = 1000
FIRST_BURN_SAMPLES = 0.3 * BURN_RATE
# then later() for this much CPU time: the density to compare with
LATER_SECONDS = 1.0


def record(refbpf, args, program, timeout=120, env=None):
    return subprocess.run([refbpf, "record"] + [str(a) for a in args] + ["--"] +
                          [str(a) for a in program], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_record_profiles_from_the_first_line_and_passes_the_exit_code(python, tmp_path,
                                                                       refbpf_bin):
    """The function the script runs first, for its first 0.3 s of CPU time,
    is in the profile with (nearly) all of its samples: the program was
    watched before its exec and sampled as soon as its interpreter was up.
    The script's exit status 7 is refbpf's."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    r = record(refbpf_bin, ["-F", BURN_RATE, "--folded", folded],
               [path, target_path("first_burn.py"), 7, LATER_SECONDS])
    assert r.returncode == 7, r.stderr[-2000:]
    stacks = parse_folded(folded)
    burn = function_samples(stacks, "first_burn")
    later = function_samples(stacks, "later")
    # cpu-clock samples count the CPU time the process was given; a late
    # attach would cost the first ones. A CPU shared in time slices is
    # sampled below 1 kHz (as low as half under CPU hogs): the first 0.3 s
    # are compared with the density of the second later on. Under CPU hogs
    # refbpf itself waits for a CPU before it sees the interpreter up:
    # 0.63-0.75 of that density measured then.
    assert later > 0, r.stdout[:3000]
    assert burn / FIRST_BURN_SAMPLES >= 0.5 * min(1.0, later / (LATER_SECONDS * BURN_RATE)), (
        burn, later, r.stdout[:3000])
    assert "Python %d.%d" % version[:2] in r.stdout, r.stdout[:3000]


@pytest.mark.parametrize("code,expected", [(0, 0), (3, 3), (-15, 128 + 15), (-9, 128 + 9)],
                         ids=["0", "3", "SIGTERM", "SIGKILL"])
def test_record_exit_status_is_the_programs(code, expected, tmp_path, refbpf_bin):
    """Exit codes pass through; death by signal N is 128+N, as shells say;
    the outputs are written all the same."""
    from pythons import find_interpreters
    label, path, version = find_interpreters()[-1]
    prof = tmp_path / "out.prof"
    r = record(refbpf_bin, ["-o", prof], [path, target_path("first_burn.py"), code, 0.05])
    assert r.returncode == expected, r.stderr[-2000:]
    assert prof.stat().st_size > 0
    assert "first_burn" in r.stdout, r.stdout[:3000]


def test_record_children_sees_every_pool_worker(python, tmp_path, refbpf_bin):
    """-C: every worker of a multiprocessing pool (forked, or started by a
    fork server on 3.14+) has its own samples of pool_work."""
    label, path, version = python
    folded = tmp_path / "out.folded"
    pids_file = tmp_path / "workers"
    r = record(refbpf_bin, ["-C", "-F", RATE, "--folded", folded],
               [path, target_path("pool_workers.py"), 3, pids_file])
    assert r.returncode == 0, r.stderr[-2000:]
    workers = [int(x) for x in pids_file.read_text().split()]
    assert len(set(workers)) == 3, workers
    stacks = parse_folded(folded)
    for pid in workers:
        samples = sum(c for frames, c in stacks if frames[0][0].startswith("<process %d " % pid)
                      and any(f[0] == "pool_work" for f in frames))
        # 0.4 s of CPU time each: 80 samples at 200 Hz, at least 0.4 of
        # them on a CPU shared with others (kernel_times)
        assert samples >= 0.4 * 0.4 * RATE, "worker %d: %d samples of pool_work\n%s" % (
            pid, samples, r.stdout[:3000])


def test_record_missing_program_says_so(refbpf_bin, tmp_path):
    r = record(refbpf_bin, [], [tmp_path / "no-such-program"])
    assert r.returncode == 127
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "cannot run" in lines[0] and "No such file" in lines[0], r.stderr


def test_record_runs_the_program_as_the_user_behind_sudo(refbpf_bin):
    """Under sudo (SUDO_UID, SUDO_GID set, running as root) the program runs
    as that user, with that user's groups and home; --as-root keeps root."""
    python = "/usr/bin/python3.11"
    if not os.access(python, os.X_OK):
        pytest.skip("skipped: needs an interpreter nobody can run (Debian's python3.11)")
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o777)
        out = os.path.join(d, "who")
        script = ("import os; open(%r, 'w').write('%%d %%d %%s %%s' %% (os.getuid(), os.getgid(), "
                  "os.getgroups(), os.environ.get('HOME')))" % out)
        env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534", SUDO_USER="nobody")
        r = record(refbpf_bin, [], [python, "-c", script], env=env)
        assert r.returncode == 0, r.stderr
        uid, gid, groups, home = open(out).read().split(" ", 3)
        assert (uid, gid) == ("65534", "65534"), (uid, gid)
        assert "0" not in groups.strip("[]").replace(" ", "").split(","), groups
        os.unlink(out)
        r = record(refbpf_bin, ["--as-root"], [python, "-c", script], env=env)
        assert r.returncode == 0, r.stderr
        assert open(out).read().split()[:2] == ["0", "0"]


@pytest.mark.parametrize("args,words", [
    (["-p", "1", "--", "true"], "record starts its own target"),
    ([], "give the program to run"),
    (["-o", "x"], "give the program to run"),
    (["--json", "--", "true"], "--json is for 'refbpf dump'"),
])
def test_record_refuses_pid_and_needs_a_program(refbpf_bin, args, words):
    r = subprocess.run([refbpf_bin, "record"] + args, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (args, r.stderr)
    assert words in r.stderr, r.stderr


def test_record_passes_a_sigint_sent_with_kill_to_the_program(tmp_path, refbpf_bin):
    """Ctrl-C reaches the program from the terminal; a SIGINT someone sends
    refbpf alone with kill(2) must reach it too, or refbpf would wait for a
    program that never stops. The outputs are written, and refbpf exits as
    the program did (Python dies of SIGINT: 130)."""
    import signal
    import time
    from pythons import find_interpreters
    label, path, version = find_interpreters()[-1]
    script = tmp_path / "forever.py"
    script.write_text("import time\nwhile True:\n    time.sleep(0.01)\n")
    prof = tmp_path / "out.prof"
    err_path = tmp_path / "refbpf.stderr"
    with open(err_path, "w") as err_file:
        proc = subprocess.Popen([refbpf_bin, "record", "-v", "-o", prof, "--", path, script],
                                stdout=subprocess.DEVNULL, stderr=err_file)
        deadline = time.monotonic() + 60
        while "refbpf: attached" not in err_path.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, err_path.read_text()[-2000:]
            time.sleep(0.05)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 128 + signal.SIGINT, err_path.read_text()[-2000:]
    assert prof.stat().st_size > 0
